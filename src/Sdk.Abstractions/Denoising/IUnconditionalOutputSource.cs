namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// A guidance stage (a denoiser that evaluates the conditional and unconditional model) that can keep the unconditional
/// output of its last evaluation for the sampler, as CFG++ needs (<see cref="ICfgPlusPlusSampler"/>). The loop asks once
/// per run whether it does, and then passes the output to every step.
/// </summary>
public interface IUnconditionalOutputSource
{
    /// <summary>Whether the stage keeps the unconditional output (a CFG++ run); when false, <see cref="UnconditionalOutput"/> is empty.</summary>
    bool KeepsUnconditionalOutput { get; }

    /// <summary>
    /// The unconditional model output of the last <see cref="IDenoiser.Predict"/> call, in the layout of that call's
    /// output; valid until the next call. Empty when <see cref="KeepsUnconditionalOutput"/> is false or before the first call.
    /// </summary>
    ReadOnlySpan<float> UnconditionalOutput { get; }
}
