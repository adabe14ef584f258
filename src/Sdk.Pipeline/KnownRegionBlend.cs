using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Pipeline;

/// <summary>
/// Inpainting with an ordinary UNet, as the reference's inpainting pipeline does it for a 4-channel UNet: after every
/// step the known region (mask 0) is replaced by the start image's latents noised to the next timestep with the run's
/// one noise tensor (no new draw), and after the last step by the clean latents:
/// <c>x ← (1 − m)·add_noise(x₀, ε, t_{k+1}) + m·x</c>, with m the latent mask (1 = repaint).
/// </summary>
public sealed class KnownRegionBlend : ILatentStage
{
    private readonly ISampler _sampler;
    private readonly float[] _imageLatents, _noise, _mask, _proper;
    private readonly double[] _timesteps;

    /// <summary>Describes the blend.</summary>
    /// <param name="sampler">The run's sampler: its timesteps and its forward process (add-noise).</param>
    /// <param name="imageLatents">The start image's latents for every item (scaled, [B, C, h, w]).</param>
    /// <param name="noise">The noise the start latents were made with, same shape.</param>
    /// <param name="latentMask">The mask at latent resolution, [h, w] (1 = repaint, 0 = keep), the same for every item and channel.</param>
    /// <param name="batch">Items in the batch.</param>
    public KnownRegionBlend(ISampler sampler, float[] imageLatents, float[] noise, float[] latentMask, int batch)
    {
        _sampler = sampler ?? throw new ArgumentNullException(nameof(sampler));
        _imageLatents = imageLatents ?? throw new ArgumentNullException(nameof(imageLatents));
        _noise = noise ?? throw new ArgumentNullException(nameof(noise));
        _mask = latentMask ?? throw new ArgumentNullException(nameof(latentMask));
        if (noise.Length != imageLatents.Length) throw new ArgumentException("The noise and the image latents differ in size.", nameof(noise));
        if (latentMask.Length == 0 || imageLatents.Length % latentMask.Length != 0) throw new ArgumentException("The mask is not one latent plane.", nameof(latentMask));
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        _proper = new float[imageLatents.Length];
        _timesteps = new double[batch];
    }

    /// <inheritdoc/>
    public void AfterStep(int timestepIndex, Span<float> latents, TensorShape shape)
    {
        if (latents.Length != _imageLatents.Length)
            throw new ArgumentException($"The latents {shape} do not match the start image's {_imageLatents.Length} values.", nameof(latents));
        ReadOnlySpan<float> proper = _imageLatents;
        if (timestepIndex < _sampler.Timesteps.Count - 1)
        {
            Array.Fill(_timesteps, _sampler.Timesteps[timestepIndex + 1]);
            _sampler.AddNoise(_imageLatents, _noise, _timesteps, _proper);
            proper = _proper;
        }
        var plane = _mask.Length;
        for (var i = 0; i < latents.Length; i++)
        {
            var m = _mask[i % plane];
            latents[i] = (1f - m) * proper[i] + m * latents[i];
        }
    }
}
