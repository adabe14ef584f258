using Diffusion.Sdk.Abstractions;
using System;
using System.Linq;
using System.Numerics.Tensors;
using Diffusion.Sdk.Sampling;
using NUnit.Framework;

namespace Diffusion.Sdk.Tests.Numerics;

/// <summary>
/// The one-pass clip and x̂₀ formulas give the bits of the TensorPrimitives chains they replaced, special values
/// (NaN, ±0, ±∞, values on the bounds) included, at lengths that end inside a vector.
/// </summary>
[TestFixture]
[Category("Bitwise")]
public sealed class ClipBitsTests
{
    private static float[] Inputs(int length)
    {
        var random = new Random(length);
        float[] special = [float.NaN, -0f, 0f, float.PositiveInfinity, float.NegativeInfinity, 1f, -1f, 1.0000001f, -0.9999999f, 2.5f, float.Epsilon];
        return Enumerable.Range(0, length).Select(i => i < special.Length ? special[i] : (float)(random.NextDouble() * 6 - 3)).ToArray();
    }

    [Test]
    public void ClipMatchesTheMinMaxPair([Values(1, 7, 11, 16, 33, 100)] int length, [Values(1.0, 0.5, 0.0)] double range)
    {
        var x = Inputs(length);
        var expected = x.ToArray();
        TensorPrimitives.Min(expected, (float)range, expected);
        TensorPrimitives.Max(expected, (float)-range, expected);
        SampleThresholding.Clip(x, range);
        AssertBits(expected, x);
    }

    [Test]
    public void MultiplyAddAndDivideMatchTensorPrimitives([Values(1, 9, 40)] int length)
    {
        var x = Inputs(length);
        var y = Inputs(length + 1)[1..];
        var expected = new float[length];
        var actual = new float[length];
        TensorPrimitives.MultiplyAdd(x, -0.37f, y, expected);
        PredictionMath.MultiplyAdd(x, -0.37f, y, actual);
        AssertBits(expected, actual);
        TensorPrimitives.Divide(x, 1.7f, expected);
        PredictionMath.Divide(x, 1.7f, actual);
        AssertBits(expected, actual);
        TensorPrimitives.Multiply(x, 1f / 6, expected);
        PredictionMath.Multiply(x, 1f / 6, actual);
        AssertBits(expected, actual);
    }

    private static void AssertBits(float[] expected, float[] actual)
    {
        for (var i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"element {i}: {actual[i]:R} (0x{BitConverter.SingleToInt32Bits(actual[i]):X8}), expected {expected[i]:R} (0x{BitConverter.SingleToInt32Bits(expected[i]):X8})");
        }
    }
}
