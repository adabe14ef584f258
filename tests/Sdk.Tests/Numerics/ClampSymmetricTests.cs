using System;
using System.Linq;
using System.Numerics.Tensors;
using Diffusion.Sdk.Sampling;
using NUnit.Framework;

namespace Diffusion.Sdk.Tests.Numerics;

/// <summary>
/// <see cref="PredictionMath.ClampSymmetric"/> (native minimum and maximum with the bound first) gives the bits of the
/// IEEE clamp it replaces, <c>TensorPrimitives.Min</c> then <c>Max</c>, on NaN, signed zeros, infinities, subnormals
/// and the bounds themselves, for positive, zero and infinite ranges.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
[Category("Bitwise")]
public sealed class ClampSymmetricTests
{
    private static readonly float[] Specials =
    [
        float.NaN, -float.NaN, 0f, -0f, 1f, -1f, 0.5f, -0.5f, 2f, -2f, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, -float.Epsilon,
        float.MaxValue, float.MinValue, 1e-40f, -1e-40f, 0.99999994f, 1.0000001f, -1.0000001f, 3.5f, -7.25f,
    ];

    [TestCase(1f)]
    [TestCase(0.5f)]
    [TestCase(0f)]
    [TestCase(float.PositiveInfinity)]
    [TestCase(1e-40f)]
    public void MatchesTheIeeeClamp(float range)
    {
        // Both register types, whatever this machine accelerates (a 512-bit register runs in software without AVX-512).
        MatchesTheIeeeClamp<FloatVectorPlatform>(range);
        MatchesTheIeeeClamp<FloatVector512>(range);
    }

    private static void MatchesTheIeeeClamp<T>(float range) where T : struct, IFloatVector<T>
    {
        var width = T.Count;
        var values = Specials.Concat(new[] { range, -range }).ToArray();
        var padded = new float[(values.Length + width - 1) / width * width];
        values.CopyTo(padded, 0);
        var expected = new float[padded.Length];
        TensorPrimitives.Min(padded, range, expected);
        TensorPrimitives.Max(expected, -range, expected);
        var actual = new float[padded.Length];
        for (var i = 0; i < padded.Length; i += width)
            PredictionMath.ClampSymmetric(T.Load(ref padded[i], 0), range).Store(ref actual[i], 0);
        Assert.That(actual.Select(BitConverter.SingleToUInt32Bits), Is.EqualTo(expected.Select(BitConverter.SingleToUInt32Bits)), $"{width} lanes");
    }
}
