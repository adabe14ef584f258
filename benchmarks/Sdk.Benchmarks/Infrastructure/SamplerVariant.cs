using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Microsoft.Extensions.DependencyInjection;

namespace Diffusion.Benchmarks.Infrastructure;

/// <summary>
/// One sampler setting the benchmarks compare: a registered sampler plus the options that make it a variant
/// (DPM-Solver++ 3M is the dpm-solver sampler with <c>solver_order</c> 3; Euler with Karras σ is the Euler sampler
/// behind the Karras wrapper). Every variant runs on the model's own <c>scheduler_config.json</c>.
/// </summary>
/// <param name="Key">Short machine-readable name (JSON keys, file names).</param>
/// <param name="Label">Name for tables and plots.</param>
/// <param name="SchedulerType">The registered sampler.</param>
/// <param name="KarrasSigmas">Karras et al. σ spacing.</param>
/// <param name="SolverOrder">DPM-Solver's order (null: the sampler's default, 2).</param>
/// <param name="Spacing">A timestep spacing other than the model's (null: the model's).</param>
/// <param name="OriginalInferenceSteps">
/// LCM's and TCD's distillation schedule for the step-cost suite, which needs 1000 steps (null: the model's, by default 50,
/// the most steps these samplers take).
/// </param>
/// <param name="CfgPlusPlus">CFG++ guidance (the guidance scale is then its λ); only for samplers with a CFG++ step.</param>
public sealed record SamplerVariant(string Key, string Label, string SchedulerType, bool KarrasSigmas = false, int? SolverOrder = null, TimestepSpacing? Spacing = null,
    int? OriginalInferenceSteps = null, bool CfgPlusPlus = false)
{
    /// <summary>Every built-in sampler, with DPM-Solver++ at orders 2 and 3 and Euler with and without Karras σ.</summary>
    public static IReadOnlyList<SamplerVariant> All { get; } =
    [
        new("ddpm", "DDPM", SamplerNames.Ddpm),
        new("ddim", "DDIM", SamplerNames.Ddim),
        new("dpm-2m", "DPM-Solver++ 2M", SamplerNames.DpmSolver),
        new("dpm-3m", "DPM-Solver++ 3M", SamplerNames.DpmSolver, SolverOrder: 3),
        new("euler", "Euler", SamplerNames.Euler),
        new("euler-karras", "Euler (Karras σ)", SamplerNames.Euler, KarrasSigmas: true),
        new("euler-ancestral", "Euler ancestral", SamplerNames.EulerAncestral),
        new("pndm", "PNDM", SamplerNames.Pndm),
        new("unipc", "UniPC-2 (bh2)", SamplerNames.UniPc),
        new("deis", "DEIS-2", SamplerNames.Deis),
        // PNDM steps by T // n whatever the spacing; with the model's trailing spacing the listed timesteps are T/n apart,
        // which differs when n does not divide T. Its own default spacing, leading, lists multiples of T // n.
        new("pndm-leading", "PNDM (leading spacing)", SamplerNames.Pndm, Spacing: TimestepSpacing.Leading),
        new("dpm-2s", "DPM-Solver++ 2S", SamplerNames.DpmSolverSinglestep),
        // Consistency samplers are meant for distilled networks; on these models they run on the plain denoiser.
        new("lcm", "LCM", SamplerNames.Lcm, OriginalInferenceSteps: 1000),
        new("tcd", "TCD (γ = 0.3)", SamplerNames.Tcd, OriginalInferenceSteps: 1000),
        new("heun", "Heun", SamplerNames.Heun),
        new("kdpm2", "KDPM2", SamplerNames.Kdpm2),
        new("kdpm2-ancestral", "KDPM2 ancestral", SamplerNames.Kdpm2Ancestral),
        new("lms", "LMS (order 4)", SamplerNames.Lms),
    ];

    /// <summary>Whether the variant is a sampler of its own for the cost of a step (a spacing changes which timesteps, not the step).</summary>
    public bool HasOwnStepCost => Spacing is null;

    /// <summary>PNDM's Runge–Kutta warm-up: 12 evaluations over its first 4 timesteps, then one per timestep.</summary>
    public const int PndmExtraEvaluations = 9;

    /// <summary>
    /// The inference steps that cost <paramref name="nfe"/> network evaluations per sample, or null where the sampler
    /// cannot (PNDM needs at least 4 steps, i.e. 13 evaluations). Heun and the KDPM2 kinds evaluate twice per step but
    /// the last (n steps: 2n − 1 evaluations, at most <paramref name="nfe"/>); every other sampler once per step.
    /// </summary>
    public int? StepsForNfe(int nfe)
    {
        var steps = SchedulerType == SamplerNames.Pndm ? nfe - PndmExtraEvaluations
            : SchedulerType is SamplerNames.Heun or SamplerNames.Kdpm2 or SamplerNames.Kdpm2Ancestral ? (nfe + 1) / 2
            : nfe;
        var minimum = SchedulerType == SamplerNames.Pndm ? 4 : 1;
        // LCM and TCD take at most original_inference_steps steps (50 on the models' own configurations).
        var maximum = SchedulerType is SamplerNames.Lcm or SamplerNames.Tcd ? 50 : 1000;
        return steps >= minimum && steps <= maximum ? steps : null;
    }

    /// <summary>The network evaluations <paramref name="steps"/> steps of this variant cost per sample (what the pipeline must report).</summary>
    public int EvaluationsFor(int steps) =>
        SchedulerType == SamplerNames.Pndm ? steps + PndmExtraEvaluations
        : SchedulerType is SamplerNames.Heun or SamplerNames.Kdpm2 or SamplerNames.Kdpm2Ancestral ? 2 * steps - 1
        : steps;

    /// <summary>The model's scheduler configuration with this variant's <see cref="OriginalInferenceSteps"/>, if any.</summary>
    public SchedulerConfig ModelConfig(SchedulerConfig modelConfig)
    {
        ArgumentNullException.ThrowIfNull(modelConfig);
        if (OriginalInferenceSteps is null) return modelConfig;
        var config = modelConfig.Clone();
        config.OriginalInferenceSteps = OriginalInferenceSteps;
        return config;
    }

    /// <summary>The request options for this variant (applied over the model's own scheduler configuration by the factory).</summary>
    public SamplingOptions Options(int steps, double guidance) => new()
    {
        Sampler = SchedulerType,
        Steps = steps,
        GuidanceScale = guidance,
        UseKarrasSigmas = KarrasSigmas ? true : null,
        SolverOrder = SolverOrder,
        TimestepSpacing = Spacing,
        CfgPlusPlus = CfgPlusPlus,
    };

    /// <summary>A sampler factory with every built-in sampler registered, as an application sets it up.</summary>
    public static ServiceProvider BuildHost()
    {
        var services = new ServiceCollection();
        services.AddBuiltInSamplers();
        return services.BuildServiceProvider();
    }
}
