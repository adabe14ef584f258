using System.Numerics;
using System.Numerics.Tensors;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Numerics;

/// <summary>
/// Every <see cref="ElementWise"/> kernel against the chain of <c>TensorPrimitives</c> calls it replaces, bit for bit,
/// at the lengths where a vector loop goes wrong: 0, 1, one vector ± 1, two vectors ± 1 (of the register width this
/// process runs, <see cref="ElementWise.Width"/>: 16 lanes with AVX-512, 8 with AVX2, 4 with SSE; CI's reruns of the
/// <c>Arithmetic</c> category without AVX-512 and without AVX2 cover the other two) and an odd length.
/// </summary>
[TestFixture]
[Category(Determinism.Categories.Arithmetic)]
public sealed class ElementWiseWidthTests
{
    private static readonly int W = ElementWise.Width;

    public static IEnumerable<int> Lengths() => new[] { 0, 1, W - 1, W, W + 1, 2 * W - 1, 2 * W, 2 * W + 1, 37 }.Where(n => n >= 0).Distinct();

    private readonly struct Two : ElementWise.IOperator2
    {
        public T Invoke<T>(T a, T b) where T : struct, IFloatVector<T> => a * 0.5f - b;
    }

    private readonly struct Three : ElementWise.IOperator3
    {
        public T Invoke<T>(T a, T b, T c) where T : struct, IFloatVector<T> => (a - b) * c;
    }

    private readonly struct Four : ElementWise.IOperator4
    {
        public T Invoke<T>(T a, T b, T c, T d) where T : struct, IFloatVector<T> => a * b + c * d;
    }

    private readonly struct Five : ElementWise.IOperator5
    {
        public T Invoke<T>(T a, T b, T c, T d, T e) where T : struct, IFloatVector<T> => (a + b) * c - d / e;
    }

    private readonly struct TwoToTwo : ElementWise.IOperator2To2
    {
        public T Invoke<T>(T a, T b, out T second) where T : struct, IFloatVector<T>
        {
            second = a - b;
            return second * a;
        }
    }

    private readonly struct ThreeToTwo : ElementWise.IOperator3To2
    {
        public T Invoke<T>(T a, T b, T c, out T second) where T : struct, IFloatVector<T>
        {
            second = a * b;
            return second + c;
        }
    }

    private readonly struct FourToTwo : ElementWise.IOperator4To2
    {
        public T Invoke<T>(T a, T b, T c, T d, out T second) where T : struct, IFloatVector<T>
        {
            second = a - b;
            return second * c + d;
        }
    }

    private readonly struct FiveToTwo : ElementWise.IOperator5To2
    {
        public T Invoke<T>(T a, T b, T c, T d, T e, out T second) where T : struct, IFloatVector<T>
        {
            second = a * b + c;
            return second - d * e;
        }
    }

    [TestCaseSource(nameof(Lengths))]
    public void SingleResultKernelsGiveTheChainsBits(int n)
    {
        var (a, b, c, d, e) = (Draw(n, 1), Draw(n, 2), Draw(n, 3), Draw(n, 4), Draw(n, 5));
        var (t, u) = (new float[n], new float[n]);

        var expected = new float[n];
        TensorPrimitives.Multiply(a, 0.5f, t); TensorPrimitives.Subtract(t, b, expected);
        Check(n, expected, r => ElementWise.Apply(new Two(), a, b, r), "two inputs");

        TensorPrimitives.Subtract(a, b, t); TensorPrimitives.Multiply(t, c, expected);
        Check(n, expected, r => ElementWise.Apply(new Three(), a, b, c, r), "three inputs");

        TensorPrimitives.Multiply(a, b, t); TensorPrimitives.Multiply(c, d, u); TensorPrimitives.Add(t, u, expected);
        Check(n, expected, r => ElementWise.Apply(new Four(), a, b, c, d, r), "four inputs");

        TensorPrimitives.Add(a, b, t); TensorPrimitives.Multiply(t, c, t); TensorPrimitives.Divide(d, e, u); TensorPrimitives.Subtract(t, u, expected);
        Check(n, expected, r => ElementWise.Apply(new Five(), a, b, c, d, e, r), "five inputs");

        // In place: the destination is the first input.
        TensorPrimitives.Subtract(a, b, t); TensorPrimitives.Multiply(t, c, expected);
        var inPlace = a.ToArray();
        ElementWise.Apply(new Three(), inPlace, b, c, inPlace);
        Assert.That(Bits(inPlace), Is.EqualTo(Bits(expected)), "three inputs, in place");
    }

    [TestCaseSource(nameof(Lengths))]
    public void TwoResultKernelsGiveTheChainsBits(int n)
    {
        var (a, b, c, d, e) = (Draw(n, 6), Draw(n, 7), Draw(n, 8), Draw(n, 9), Draw(n, 10));
        var (first, second, t) = (new float[n], new float[n], new float[n]);

        TensorPrimitives.Subtract(a, b, second); TensorPrimitives.Multiply(second, a, first);
        Check2(n, first, second, (r, s) => ElementWise.Apply(new TwoToTwo(), a, b, r, s), "two inputs");

        TensorPrimitives.Multiply(a, b, second); TensorPrimitives.Add(second, c, first);
        Check2(n, first, second, (r, s) => ElementWise.Apply(new ThreeToTwo(), a, b, c, r, s), "three inputs");

        TensorPrimitives.Subtract(a, b, second); TensorPrimitives.Multiply(second, c, first); TensorPrimitives.Add(first, d, first);
        Check2(n, first, second, (r, s) => ElementWise.Apply(new FourToTwo(), a, b, c, d, r, s), "four inputs");

        TensorPrimitives.Multiply(a, b, second); TensorPrimitives.Add(second, c, second); TensorPrimitives.Multiply(d, e, t); TensorPrimitives.Subtract(second, t, first);
        Check2(n, first, second, (r, s) => ElementWise.Apply(new FiveToTwo(), a, b, c, d, e, r, s), "five inputs");
    }

    private delegate void Kernel(Span<float> result);

    private delegate void Kernel2(Span<float> result, Span<float> second);

    private static void Check(int n, float[] expected, Kernel kernel, string what)
    {
        // One element past the end must stay untouched: the tail must not write beyond the destination.
        var result = Enumerable.Repeat(float.NaN, n + 1).ToArray();
        kernel(result.AsSpan(0, n));
        Assert.That(Bits(result[..n]), Is.EqualTo(Bits(expected)), $"{what}, length {n}");
        Assert.That(result[n], Is.NaN, $"{what}, length {n}: nothing written past the end");
    }

    private static void Check2(int n, float[] first, float[] second, Kernel2 kernel, string what)
    {
        var (r, s) = (Enumerable.Repeat(float.NaN, n + 1).ToArray(), Enumerable.Repeat(float.NaN, n + 1).ToArray());
        kernel(r.AsSpan(0, n), s.AsSpan(0, n));
        Assert.That(Bits(r[..n]), Is.EqualTo(Bits(first)), $"{what}, length {n}: first result");
        Assert.That(Bits(s[..n]), Is.EqualTo(Bits(second)), $"{what}, length {n}: second result");
        Assert.That(r[n], Is.NaN);
        Assert.That(s[n], Is.NaN);
    }

    private static float[] Draw(int length, ulong seed)
    {
        var values = new float[length];
        new TorchGaussianNoise(seed).NextGaussian(values);
        // Keep divisors away from 0 without changing the bits' variety.
        for (var i = 0; i < length; i++) values[i] += MathF.CopySign(0.25f, values[i]);
        return values;
    }

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();
}
