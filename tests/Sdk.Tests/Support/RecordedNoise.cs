using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Support;

/// <summary>Replays recorded noise draws in order; a draw of the wrong size, or one too many, fails the test.</summary>
public sealed class RecordedNoise(IEnumerable<float[]> draws) : INoiseSource
{
    private readonly Queue<float[]> _draws = new(draws);

    /// <summary>Draws not yet taken.</summary>
    public int Remaining => _draws.Count;

    /// <inheritdoc/>
    public void NextGaussian(Span<float> destination)
    {
        if (!_draws.TryDequeue(out var next))
            throw new InvalidOperationException("The sampler drew noise where the reference drew none.");
        if (next.Length != destination.Length)
            throw new InvalidOperationException($"The sampler drew {destination.Length} values where the reference drew {next.Length}.");
        next.CopyTo(destination);
    }
}
