using System;
using System.Linq;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using NUnit.Framework;

namespace Diffusion.Sdk.Tests.Noise;

/// <summary>
/// The vector and scalar paths of the seeded-noise kernels give the same bits on the same inputs. Each path is called
/// directly, whatever the machine: a vector path the hardware does not accelerate still runs (in software), so every
/// path is checked on every machine, and the CI runs with AVX-512 and AVX2 disabled check the dispatch too. Those runs
/// (the arithmetic category) also take the 512-bit paths' software forms of <c>valignd</c> and of the mask-register
/// blends, which replace the AVX-512 instructions where the machine lacks them.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
[Category("Bitwise")]
public sealed class NoisePathsTests
{
    private const int Block = CephesBoxMuller.BlockSize;

    /// <summary>Every float uniform there is, (k·2^-24 for k &lt; 2^24), as u1 and as u2, through the three Box–Muller paths.</summary>
    [Test]
    public void BoxMullerPathsAgreeOnEveryUniform()
    {
        const int count = 1 << 24;
        const int chunk = 1 << 16;
        var input = new float[chunk];
        var scalar = new float[chunk];
        var v256 = new float[chunk];
        var v512 = new float[chunk];
        for (int start = 0; start < count; start += chunk / 2)
        {
            // Each block takes 8 consecutive uniforms as u1 (position j: 1 − u) and 8 others, in the reverse order, as u2.
            for (int b = 0; b < chunk / Block; b++)
            {
                for (int j = 0; j < Block / 2; j++)
                {
                    int k = (start + (b * (Block / 2)) + j) % count;
                    input[(b * Block) + j] = k * (1.0f / count);
                    input[(b * Block) + j + (Block / 2)] = (count - 1 - k) * (1.0f / count);
                }
            }

            Transform(input, scalar, v256, v512);
            AssertSameBits(scalar, v256, $"Vector256, uniforms from {start}");
            AssertSameBits(scalar, v512, $"Vector512, uniforms from {start}");
        }
    }

    /// <summary>
    /// Random uniforms in lengths of 1 to 7 blocks: Vector512 takes two blocks at a time and a lone last one by Vector256,
    /// and its pipelined loop has separate code for one pair, two pairs (no loop iteration) and three or more.
    /// </summary>
    [Test]
    public void BoxMullerPathsAgreeOnAnyNumberOfBlocks([Values(1, 2, 3, 4, 5, 6, 7)] int blocks)
    {
        var random = new Random(blocks);
        var input = Enumerable.Range(0, blocks * Block).Select(_ => random.Next(1 << 24) * (1.0f / (1 << 24))).ToArray();
        var scalar = new float[input.Length];
        var v256 = new float[input.Length];
        var v512 = new float[input.Length];
        Transform(input, scalar, v256, v512);
        AssertSameBits(scalar, v256, "Vector256");
        AssertSameBits(scalar, v512, "Vector512");
    }

    [Test]
    public void BoxMullerRejectsAPartialBlock()
    {
        var scalar = Assert.Throws<ArgumentException>(() => CephesBoxMuller.TransformScalar(new float[Block + 1]))!;
        var v256 = Assert.Throws<ArgumentException>(() => CephesBoxMuller.TransformVector256(new float[Block - 1]))!;
        var v512 = Assert.Throws<ArgumentException>(() => CephesBoxMuller.TransformVector512(new float[(2 * Block) + 8]))!;
        // The refusal says what it needs and what it got.
        Assert.That(scalar.Message, Does.Contain($"whole blocks of {Block} values; got {Block + 1}"));
        Assert.That(v256.Message, Does.Contain($"got {Block - 1}"));
        Assert.That(v512.Message, Does.Contain($"got {2 * Block + 8}"));
    }

    /// <summary>The state regeneration, word for word, from seeded states and from arbitrary ones, many twists in a row.</summary>
    [TestCase(0UL)]
    [TestCase(42UL)]
    [TestCase(0xFFFFFFFFUL)]
    public void TwistPathsAgree(ulong seed)
    {
        var random = new Random((int)seed);
        var scalar = new uint[MersenneTwister.StateSize];
        for (int i = 0; i < scalar.Length; i++)
        {
            scalar[i] = seed == 42 ? (uint)random.NextInt64(0, 1L << 32) : unchecked((uint)(seed * (ulong)(i + 1)));
        }

        var v256 = (uint[])scalar.Clone();
        var v512 = (uint[])scalar.Clone();
        for (int round = 0; round < 20; round++)
        {
            MersenneTwister.TwistScalar(scalar, 0);
            MersenneTwister.TwistVector256(v256);
            MersenneTwister.TwistVector512(v512);
            Assert.That(v256, Is.EqualTo(scalar), $"Vector256, twist {round}");
            Assert.That(v512, Is.EqualTo(scalar), $"Vector512, twist {round}");
        }
    }

    /// <summary>Tempering into float uniforms, for lengths that end inside a vector and after it.</summary>
    [Test]
    public void TemperPathsAgree([Values(0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 624)] int length)
    {
        var random = new Random(length);
        var words = Enumerable.Range(0, length).Select(_ => (uint)random.NextInt64(0, 1L << 32)).Append(uint.MaxValue).Prepend(0u).ToArray();
        var scalar = new float[words.Length];
        var v256 = new float[words.Length];
        var v512 = new float[words.Length];
        MersenneTwister.TemperScalar(words, scalar, 0);
        MersenneTwister.TemperVector256(words, v256);
        MersenneTwister.TemperVector512(words, v512);
        AssertSameBits(scalar, v256, "Vector256");
        AssertSameBits(scalar, v512, "Vector512");
    }

    /// <summary>Bulk uniforms in pieces of any size continue the stream exactly where single outputs would be.</summary>
    [Test]
    public void BulkUniformsContinueTheSingleWordStream()
    {
        var bulk = new MersenneTwister(2024);
        var single = new MersenneTwister(2024);
        var random = new Random(5);
        for (int piece = 0; piece < 60; piece++)
        {
            var values = new float[random.Next(0, 1500)];
            bulk.FillFloatUniforms(values);
            for (int i = 0; i < values.Length; i++)
            {
                float expected = (single.NextUInt32() & 0xFFFFFF) * (1.0f / (1 << 24));
                if (BitConverter.SingleToInt32Bits(values[i]) != BitConverter.SingleToInt32Bits(expected))
                    Assert.Fail($"piece {piece} ({values.Length} values), value {i}: {values[i]:R} instead of {expected:R}");
            }
        }
    }

    private static void Transform(float[] input, float[] scalar, float[] v256, float[] v512)
    {
        input.CopyTo(scalar, 0);
        input.CopyTo(v256, 0);
        input.CopyTo(v512, 0);
        CephesBoxMuller.TransformScalar(scalar);
        CephesBoxMuller.TransformVector256(v256);
        CephesBoxMuller.TransformVector512(v512);
    }

    private static void AssertSameBits(float[] expected, float[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: value {i} is {actual[i]:R} (0x{BitConverter.SingleToInt32Bits(actual[i]):X8}), the scalar path gives {expected[i]:R} (0x{BitConverter.SingleToInt32Bits(expected[i]):X8})");
        }
    }
}
