using System.Numerics.Tensors;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Numerics;

/// <summary>
/// The fused loops give the bits of the chain of <c>TensorPrimitives</c> calls they replace, at every length (whole
/// vectors, a partial last vector, shorter than one vector), with the destination aliasing an input or not.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class ElementWiseTests
{
    private readonly record struct ScaledDifferencePlus(float Divisor, float Scale) : ElementWise.IOperator3
    {
        public T Invoke<T>(T a, T b, T c) where T : struct, IFloatVector<T> => (a - b) / Divisor * Scale + c;
    }

    private readonly record struct SumOfFive : ElementWise.IOperator5
    {
        public T Invoke<T>(T a, T b, T c, T d, T e) where T : struct, IFloatVector<T> => a * 0.1f + b * 0.2f + c * 0.3f + d * 0.4f + e;
    }

    private readonly record struct ConvertThenUpdate(float NegativeSigma, float Alpha, float Scale) : ElementWise.IOperator3To2
    {
        public T Invoke<T>(T eps, T x, T other, out T converted) where T : struct, IFloatVector<T>
        {
            converted = (eps * NegativeSigma + x) / Alpha;
            return converted * Scale + other;
        }
    }

    [TestCase(3)]
    [TestCase(8)]
    [TestCase(4099)]
    public void TwoResultsAreTheChainsIntermediateAndResult(int length)
    {
        var (eps, x, other) = (Draw(length, 1), Draw(length, 2), Draw(length, 3));
        var expectedConverted = new float[length];
        var expected = new float[length];
        TensorPrimitives.MultiplyAdd(eps, -0.3f, x, expectedConverted);
        TensorPrimitives.Divide(expectedConverted, 0.9f, expectedConverted);
        TensorPrimitives.MultiplyAdd(expectedConverted, 1.7f, other, expected);

        var converted = new float[length];
        ElementWise.Apply(new ConvertThenUpdate(-0.3f, 0.9f, 1.7f), eps, x, other, x, converted); // the result over x, in place
        Assert.That(Bits(converted), Is.EqualTo(Bits(expectedConverted)));
        Assert.That(Bits(x), Is.EqualTo(Bits(expected)));
        Assert.Throws<ArgumentException>(() => ElementWise.Apply(new ConvertThenUpdate(1, 1, 1), eps, other, other, converted, converted));
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(7)]
    [TestCase(16)]
    [TestCase(37)]
    [TestCase(4096)]
    [TestCase(4099)]
    public void FusedFormulaGivesTheBitsOfTheChainOfCalls(int length)
    {
        var (a, b, c) = (Draw(length, 1), Draw(length, 2), Draw(length, 3));
        var expected = new float[length];
        TensorPrimitives.Subtract(a, b, expected);
        TensorPrimitives.Divide(expected, 0.37f, expected);
        TensorPrimitives.MultiplyAdd(expected, -1.9f, c, expected);

        var fused = new float[length];
        ElementWise.Apply(new ScaledDifferencePlus(0.37f, -1.9f), a, b, c, fused);
        Assert.That(Bits(fused), Is.EqualTo(Bits(expected)));

        // In place over the first input.
        ElementWise.Apply(new ScaledDifferencePlus(0.37f, -1.9f), a, b, c, a);
        Assert.That(Bits(a), Is.EqualTo(Bits(expected)));
    }

    [TestCase(5)]
    [TestCase(29)]
    public void FiveInputsAndCombineAgreeWithTheirChains(int length)
    {
        var inputs = Enumerable.Range(1, 5).Select(s => Draw(length, (ulong)s)).ToArray();
        var expected = new float[length];
        TensorPrimitives.Multiply(inputs[0], 0.1f, expected);
        TensorPrimitives.MultiplyAdd(inputs[1], 0.2f, expected, expected);
        TensorPrimitives.MultiplyAdd(inputs[2], 0.3f, expected, expected);
        TensorPrimitives.MultiplyAdd(inputs[3], 0.4f, expected, expected);
        TensorPrimitives.Add(expected, inputs[4], expected);
        var fused = new float[length];
        ElementWise.Apply(default(SumOfFive), inputs[0], inputs[1], inputs[2], inputs[3], inputs[4], fused);
        Assert.That(Bits(fused), Is.EqualTo(Bits(expected)));

        var combined = new float[length];
        TensorPrimitives.Multiply(inputs[1], -0.7f, expected);
        TensorPrimitives.MultiplyAdd(inputs[0], 1.3f, expected, expected);
        TensorPrimitives.MultiplyAdd(inputs[2], 0.5f, expected, expected);
        PredictionMath.Combine(1.3f, inputs[0], -0.7f, inputs[1], 0.5f, inputs[2], combined);
        Assert.That(Bits(combined), Is.EqualTo(Bits(expected)));
    }

    [Test]
    public void PartialOverlapAndLengthMismatchAreRefused()
    {
        var buffer = Draw(40, 4);
        var other = Draw(32, 5);
        Assert.Throws<ArgumentException>(() => PredictionMath.Combine(1, buffer.AsSpan(0, 32), 1, other, buffer.AsSpan(8, 32)));
        Assert.Throws<ArgumentException>(() => PredictionMath.Combine(1, buffer.AsSpan(0, 31), 1, other, new float[32]));
    }

    [Test]
    public void AStepAllocatesNothing()
    {
        var (a, b, c, d) = (Draw(1000, 1), Draw(1000, 2), Draw(1000, 3), new float[1000]);
        ElementWise.Apply(new ScaledDifferencePlus(2, 3), a, b, c, d);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++) ElementWise.Apply(new ScaledDifferencePlus(2, 3), a, b, c, d);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    private static float[] Draw(int length, ulong seed)
    {
        var values = new float[length];
        new TorchGaussianNoise(seed).NextGaussian(values);
        return values;
    }

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();
}
