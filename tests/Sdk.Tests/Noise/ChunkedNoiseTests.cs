using System;
using System.Linq;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;
using NUnit.Framework;

namespace Diffusion.Sdk.Tests.Noise;

/// <summary>
/// Noise drawn a cache-sized piece at a time (<see cref="TorchGaussianNoise"/>'s chunked draw, which the stochastic
/// samplers use to add their noise in the update's own pass) gives the values of one whole-tensor draw, in order, and
/// leaves the generator where that draw leaves it; a stochastic step with the chunked path gives the same bits as with
/// a source that only fills buffers.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
[Category("Bitwise")]
public sealed class ChunkedNoiseTests
{
    // Around the block (16), the chunk (4096) and the twister's state (624): whole and partial last blocks and pieces.
    private static readonly int[] Lengths = [16, 17, 31, 624, 1000, 1023, 1024, 1025, 1040, 1041, 2048, 2063, 4095, 4096, 4097, 4111, 4112, 6272, 8209, 16384, 16399];

    [TestCaseSource(nameof(Lengths))]
    public void PiecesAreTheWholeDraw(int length)
    {
        var whole = new float[length];
        var reference = new TorchGaussianNoise(1234);
        reference.NextGaussian(whole);

        var chunked = new TorchGaussianNoise(1234);
        var pieces = new float[length];
        for (var start = 0; start < length;)
        {
            var piece = chunked.NextChunk(length, start);
            Assert.That(piece.Length, Is.GreaterThan(0));
            piece.CopyTo(pieces.AsSpan(start));
            start += piece.Length;
        }
        Assert.That(BitsOf(pieces), Is.EqualTo(BitsOf(whole)), "the pieces differ from the whole draw");

        // The next draws agree too: the same generator state, the small-tensor cache untouched.
        var afterWhole = new float[37];
        var afterPieces = new float[37];
        reference.NextGaussian(afterWhole);
        chunked.NextGaussian(afterPieces);
        Assert.That(BitsOf(afterPieces), Is.EqualTo(BitsOf(afterWhole)), "the generator ends in another state");
    }

    [Test]
    public void GeneratorsTakingTurnsOnOneThreadEachDrawTheirOwnStream()
    {
        // The chunk memory is the thread's: each piece is copied out before the other generator draws, as a sampler's
        // pass uses it, and each generator still yields exactly its own whole draw.
        const int length = 10_000;
        var (first, second) = (new TorchGaussianNoise(7), new TorchGaussianNoise(8));
        var (firstPieces, secondPieces) = (new float[length], new float[length]);
        for (int a = 0, b = 0; a < length || b < length;)
        {
            if (a < length) { var piece = first.NextChunk(length, a); piece.CopyTo(firstPieces.AsSpan(a)); a += piece.Length; }
            if (b < length) { var piece = second.NextChunk(length, b); piece.CopyTo(secondPieces.AsSpan(b)); b += piece.Length; }
        }
        var (firstWhole, secondWhole) = (new float[length], new float[length]);
        new TorchGaussianNoise(7).NextGaussian(firstWhole);
        new TorchGaussianNoise(8).NextGaussian(secondWhole);
        Assert.That(BitsOf(firstPieces), Is.EqualTo(BitsOf(firstWhole)));
        Assert.That(BitsOf(secondPieces), Is.EqualTo(BitsOf(secondWhole)));
    }

    [Test]
    public void ChunkedDrawsOnTwoThreadsAtOnceDoNotMix()
    {
        const int length = 50_000;
        float[] Draw(ulong seed)
        {
            var generator = new TorchGaussianNoise(seed);
            var values = new float[length];
            for (var start = 0; start < length;)
            {
                var piece = generator.NextChunk(length, start);
                piece.CopyTo(values.AsSpan(start));
                start += piece.Length;
            }
            return values;
        }
        for (var round = 0; round < 5; round++)
        {
            var tasks = new[] { Task.Run(() => Draw(11)), Task.Run(() => Draw(12)) };
            Task.WaitAll(tasks);
            var (expected11, expected12) = (new float[length], new float[length]);
            new TorchGaussianNoise(11).NextGaussian(expected11);
            new TorchGaussianNoise(12).NextGaussian(expected12);
            Assert.That(BitsOf(tasks[0].Result), Is.EqualTo(BitsOf(expected11)));
            Assert.That(BitsOf(tasks[1].Result), Is.EqualTo(BitsOf(expected12)));
        }
    }

    [TestCase("euler-ancestral", 1, 4, 16, 16)]
    [TestCase("euler-ancestral", 3, 1, 7, 7)]
    [TestCase("ddpm", 1, 4, 16, 16)]
    [TestCase("ddpm", 2, 1, 28, 28)]
    [TestCase("lcm", 1, 4, 16, 17)]
    [TestCase("tcd", 1, 4, 16, 16)]
    [TestCase("kdpm2-ancestral", 2, 1, 28, 28)]
    public void ChunkedStepsMatchBufferedSteps(string sampler, int batch, int channels, int height, int width)
    {
        var n = batch * channels * height * width;
        var viaChunks = Run(sampler, batch, n, new TorchGaussianNoise(42));
        var viaBuffer = Run(sampler, batch, n, new BufferOnlyNoise(new TorchGaussianNoise(42)));
        Assert.That(BitsOf(viaChunks), Is.EqualTo(BitsOf(viaBuffer)));
    }

    private static float[] Run(string name, int batch, int n, INoiseSource noise)
    {
        var sampler = TestHost.Factory.Create(name, new SchedulerConfig { BetaSchedule = BetaSchedule.ScaledLinear, BetaStart = 0.00085, BetaEnd = 0.012 });
        sampler.SetTimesteps(10);
        var sample = new float[n];
        new TorchGaussianNoise(7).NextGaussian(sample);
        var output = new float[n];
        new TorchGaussianNoise(3).NextGaussian(output);
        for (var i = 0; i < n; i++) output[i] *= 0.1f;
        foreach (var t in sampler.Timesteps.ToArray())
            sampler.Step(new StepInput(output, t, sample, batch), new StepOutput(sample), noise);
        return sample;
    }

    private static uint[] BitsOf(float[] values) => values.Select(BitConverter.SingleToUInt32Bits).ToArray();

    // Hides the concrete type, so that samplers take the path that fills a buffer first.
    private sealed class BufferOnlyNoise(INoiseSource inner) : INoiseSource
    {
        public void NextGaussian(Span<float> destination) => inner.NextGaussian(destination);
    }
}
