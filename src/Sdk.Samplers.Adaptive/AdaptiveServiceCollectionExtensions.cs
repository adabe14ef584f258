using System.Text.Json;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.Adaptive;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the adaptive-step DPM-Solver.</summary>
public static class AdaptiveServiceCollectionExtensions
{
    /// <summary>The configuration keys the sampler reads (k-diffusion's parameter names).</summary>
    public static readonly IReadOnlyList<string> ConfigKeys = ["order", "rtol", "atol", "h_init", "pcoeff", "icoeff", "dcoeff", "accept_safety", "eta", "s_noise"];

    /// <summary>
    /// Makes the <c>dpm-adaptive</c> sampler available to the sampler factory, its settings read from the
    /// configuration's keys (<see cref="ConfigKeys"/>) over <paramref name="defaults"/> (null: k-diffusion's).
    /// </summary>
    public static IDiffusionBuilder AddDpmAdaptiveSampler(this IDiffusionBuilder builder, AdaptiveDpmSolverOptions? defaults = null) =>
        builder.AddSampler(SamplerNames.DpmAdaptive, null, config => new DpmAdaptiveSampler(config, ReadOptions(config, defaults)), [.. ConfigKeys]);

    /// <summary>The solver settings a configuration asks for: its keys laid over <paramref name="defaults"/>.</summary>
    /// <exception cref="SchedulerConfigException">A key holds something other than a number.</exception>
    public static AdaptiveDpmSolverOptions ReadOptions(SchedulerConfig config, AdaptiveDpmSolverOptions? defaults = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var o = defaults ?? new AdaptiveDpmSolverOptions();
        double Number(string key, double fallback)
        {
            if (!config.AdditionalKeys.TryGetValue(key, out var value)) return fallback;
            return value.ValueKind == JsonValueKind.Number ? value.GetDouble() : throw new SchedulerConfigException(key, value.GetRawText(), "a number");
        }
        var order = Number("order", o.Order);
        if (order != Math.Floor(order)) throw new SchedulerConfigException("order", order.ToString(System.Globalization.CultureInfo.InvariantCulture), "2 or 3");
        return o with
        {
            Order = (int)order,
            Rtol = Number("rtol", o.Rtol),
            Atol = Number("atol", o.Atol),
            HInit = Number("h_init", o.HInit),
            PCoeff = Number("pcoeff", o.PCoeff),
            ICoeff = Number("icoeff", o.ICoeff),
            DCoeff = Number("dcoeff", o.DCoeff),
            AcceptSafety = Number("accept_safety", o.AcceptSafety),
            Eta = config.Eta ?? o.Eta,
            SNoise = Number("s_noise", o.SNoise),
        };
    }
}
