namespace Diffusion.Sdk.Abstractions;

/// <summary>A source of standard-normal noise. Implementations are deterministic for a given seed and not thread-safe.</summary>
public interface INoiseSource
{
    /// <summary>Fills <paramref name="destination"/> with independent N(0, 1) draws, as one tensor of that many elements.</summary>
    void NextGaussian(Span<float> destination);
}
