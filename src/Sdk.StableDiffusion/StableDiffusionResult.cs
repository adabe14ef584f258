using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>A finished Stable Diffusion generation.</summary>
public sealed class StableDiffusionResult
{
    private readonly Lazy<IReadOnlyList<byte[]>> _png;

    /// <summary>Creates the result; the PNG files are encoded from <see cref="Images"/> when <see cref="Png"/> is first read.</summary>
    public StableDiffusionResult() => _png = new(() => Enumerable.Range(0, ImageShape.Batch).Select(i => StableDiffusionImages.EncodePng(Images, ImageShape, i)).ToArray());

    /// <summary>
    /// The images as PNG files, one per batch item: <c>round(x · 255)</c> of <see cref="Images"/>. Encoded on first
    /// read (thread-safe), so that callers who want the pixels or the latents do not pay for compression.
    /// </summary>
    public IReadOnlyList<byte[]> Png => _png.Value;

    /// <summary>The images in [0, 1], NCHW (RGB), as the reference's <c>(x / 2 + 0.5).clamp(0, 1)</c>.</summary>
    public required float[] Images { get; init; }

    /// <summary>Shape of <see cref="Images"/>.</summary>
    public required TensorShape ImageShape { get; init; }

    /// <summary>The final latents, NCHW, before the scaling factor is divided out.</summary>
    public required float[] Latents { get; init; }

    /// <summary>The latents that entered the loop: x_T (noise × init noise sigma), or the noised start image.</summary>
    public required float[] InitialLatents { get; init; }

    /// <summary>
    /// What the UNet was conditioned on for the whole run, in its batch order: under guidance the unconditional
    /// (negative prompt) rows first, then the prompt rows, as the reference concatenates them; null for a result made
    /// by other code.
    /// </summary>
    public ModelConditioning? Conditioning { get; init; }

    /// <summary>The shape of <see cref="Conditioning"/>'s encoder hidden states: [rows, tokens, width] (empty when there are none).</summary>
    public IReadOnlyList<int> EncoderHiddenStatesShape { get; init; } = [];

    /// <summary>Shape of <see cref="Latents"/>.</summary>
    public required TensorShape LatentShape { get; init; }

    /// <summary>The sampler that ran (its name, wrappers included).</summary>
    public required string SamplerName { get; init; }

    /// <summary>The timesteps visited.</summary>
    public required IReadOnlyList<double> Timesteps { get; init; }

    /// <summary>UNet calls made (guidance batches two passes into one call when the batch is dynamic).</summary>
    public required int UnetEvaluations { get; init; }

    /// <summary>Wall-clock time of the run.</summary>
    public required TimeSpan Elapsed { get; init; }

    /// <summary>Per-step statistics, when <see cref="StableDiffusionRequest.CollectStatistics"/> asked for them; else null.</summary>
    public IReadOnlyList<StepStatistics>? Statistics { get; init; }
}
