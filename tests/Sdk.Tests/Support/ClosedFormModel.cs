using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Support;

/// <summary>
/// An in-memory class-conditional model: the exact two-class mixture denoiser over 1×4×4 items, labels 0 and 1,
/// 2 = unconditional, with a linear 1000-step schedule. Lets the pipeline be tested without ONNX.
/// </summary>
public sealed class ClosedFormModel(Func<IDenoiser, IDenoiser>? decorate = null, int? fixedBatch = null) : IDiffusionModel
{
    private static readonly NoiseSchedule Schedule = NoiseSchedule.FromConfig(new SchedulerConfig());
    private static readonly double[] LogSigmas = SigmaMath.LogSigmas(Schedule);

    public ModelInfo Info { get; } = new()
    {
        Source = "closed-form mixture", Channels = 1, Height = 4, Width = 4, FixedBatchSize = fixedBatch,
        HasClassLabels = true, NumClasses = 2, UnconditionalLabel = MixtureDenoiser.Unconditional,
    };

    public SchedulerConfig? SchedulerConfig { get; } = new() { ClassName = "DDIMScheduler", ClipSample = false };

    public int DenoisersCreated { get; private set; }

    public IDenoiser CreateDenoiser()
    {
        DenoisersCreated++;
        var inner = new MixtureDenoiser(AlphaBar, fixedBatch);
        return decorate?.Invoke(inner) ?? inner;
    }

    /// <summary>ᾱ at a possibly fractional timestep, by log-σ interpolation (what a network trained on integer t sees in between).</summary>
    public static double AlphaBar(double t)
    {
        var lo = (int)Math.Floor(Math.Clamp(t, 0, 999));
        var hi = Math.Min(lo + 1, 999);
        var w = t - lo;
        var sigma = Math.Exp((1 - w) * LogSigmas[lo] + w * LogSigmas[hi]);
        return 1 / (1 + sigma * sigma);
    }

    public void Dispose() { }
}
