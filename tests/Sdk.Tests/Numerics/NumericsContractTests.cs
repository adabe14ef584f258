using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Numerics;

/// <summary>
/// The numerics helpers' contracts beyond their values: every <see cref="ElementWise"/> arity refuses inputs of the
/// wrong length, a partially overlapping destination and overlapping results, saying so; <see cref="FixedOrderSum"/>
/// adds in its documented order (element i into partial sum i mod 4, then (s₀ + s₁) + (s₂ + s₃)), bit for bit;
/// <see cref="PredictionFormula"/> gives <see cref="PredictionMath"/>'s bits; undefined prediction types are refused.
/// </summary>
[TestFixture]
public sealed class NumericsContractTests
{
    private readonly struct One : ElementWise.IOperator1 { public T Invoke<T>(T a) where T : struct, IFloatVector<T> => a; }
    private readonly struct Two : ElementWise.IOperator2 { public T Invoke<T>(T a, T b) where T : struct, IFloatVector<T> => a + b; }
    private readonly struct Three : ElementWise.IOperator3 { public T Invoke<T>(T a, T b, T c) where T : struct, IFloatVector<T> => a + b + c; }
    private readonly struct Four : ElementWise.IOperator4 { public T Invoke<T>(T a, T b, T c, T d) where T : struct, IFloatVector<T> => a + b + c + d; }
    private readonly struct Five : ElementWise.IOperator5 { public T Invoke<T>(T a, T b, T c, T d, T e) where T : struct, IFloatVector<T> => a + b + c + d + e; }
    private readonly struct TwoToTwo : ElementWise.IOperator2To2 { public T Invoke<T>(T a, T b, out T s) where T : struct, IFloatVector<T> { s = a; return b; } }
    private readonly struct ThreeToTwo : ElementWise.IOperator3To2 { public T Invoke<T>(T a, T b, T c, out T s) where T : struct, IFloatVector<T> { s = a; return c; } }
    private readonly struct FourToTwo : ElementWise.IOperator4To2 { public T Invoke<T>(T a, T b, T c, T d, out T s) where T : struct, IFloatVector<T> { s = a; return d; } }
    private readonly struct FiveToTwo : ElementWise.IOperator5To2 { public T Invoke<T>(T a, T b, T c, T d, T e, out T s) where T : struct, IFloatVector<T> { s = a; return e; } }

    private const int N = 40;

    private delegate void Call(float[] x, float[] y, float[] destination, float[] second);

    // Each arity, with its inputs (x for the first, y for every other) and its results.
    private static readonly (string Name, bool TwoResults, Call Run)[] Arities =
    [
        ("one input", false, (x, y, r, s) => ElementWise.Apply(new One(), x, r)),
        ("two inputs", false, (x, y, r, s) => ElementWise.Apply(new Two(), x, y, r)),
        ("three inputs", false, (x, y, r, s) => ElementWise.Apply(new Three(), x, y, (ReadOnlySpan<float>)y, r)),
        ("four inputs", false, (x, y, r, s) => ElementWise.Apply(new Four(), x, y, y, y, r)),
        ("five inputs", false, (x, y, r, s) => ElementWise.Apply(new Five(), x, y, y, y, y, r)),
        ("two inputs, two results", true, (x, y, r, s) => ElementWise.Apply(new TwoToTwo(), x, y, r, s)),
        ("three inputs, two results", true, (x, y, r, s) => ElementWise.Apply(new ThreeToTwo(), x, y, y, r, s)),
        ("four inputs, two results", true, (x, y, r, s) => ElementWise.Apply(new FourToTwo(), x, y, y, y, r, s)),
        ("five inputs, two results", true, (x, y, r, s) => ElementWise.Apply(new FiveToTwo(), x, y, y, y, y, r, s)),
    ];

    [Test]
    public void EveryArityRefusesAnInputOfTheWrongLength()
    {
        foreach (var (name, twoResults, run) in Arities)
        {
            var e = Assert.Throws<ArgumentException>(() => run(new float[N - 1], new float[N], new float[N], new float[N]), name)!;
            Assert.That(e.Message, Does.Contain($"destination's length ({N}); got {N - 1}"), name);
            if (twoResults)
            {
                var second = Assert.Throws<ArgumentException>(() => run(new float[N], new float[N], new float[N], new float[N + 3]), $"{name}: second result")!;
                Assert.That(second.Message, Does.Contain($"destination's length ({N + 3}); got {N}"), name);
            }
        }
    }

    [Test]
    public void EveryArityRefusesAPartiallyOverlappingDestination()
    {
        foreach (var (name, twoResults, run) in Arities)
        {
            var buffer = new float[N + 4];
            // The destination is the input shifted by 4 floats: an array cannot express that, so go through spans.
            var e = Assert.Throws<ArgumentException>(() => RunOnSpans(run, buffer), name)!;
            Assert.That(e.Message, Does.Contain("overlaps an input partially"), name);
            Assert.That(e.ParamName, Is.EqualTo("destination"), name);
            if (!twoResults) continue;
            var shared = new float[N];
            var apart = Assert.Throws<ArgumentException>(() => run(new float[N], new float[N], shared, shared), $"{name}: both results in one buffer")!;
            Assert.That(apart.Message, Does.Contain("two results must go to separate memory"), name);
            Assert.That(apart.ParamName, Is.EqualTo("second"), name);
        }
    }

    // run() takes arrays; a shifted view needs the kernels themselves, so the shifted case calls them directly.
    private static void RunOnSpans(Call run, float[] buffer)
    {
        var index = Array.FindIndex(Arities, a => a.Run == run);
        var input = (ReadOnlySpan<float>)buffer.AsSpan(0, N);
        var destination = buffer.AsSpan(4, N);
        var other = new float[N];
        var second = new float[N];
        switch (index)
        {
            case 0: ElementWise.Apply(new One(), input, destination); break;
            case 1: ElementWise.Apply(new Two(), other, input, destination); break;
            case 2: ElementWise.Apply(new Three(), other, other, input, destination); break;
            case 3: ElementWise.Apply(new Four(), other, other, other, input, destination); break;
            case 4: ElementWise.Apply(new Five(), other, other, other, other, input, destination); break;
            case 5: ElementWise.Apply(new TwoToTwo(), other, input, destination, second); break;
            case 6: ElementWise.Apply(new ThreeToTwo(), other, other, input, destination, second); break;
            case 7: ElementWise.Apply(new FourToTwo(), other, other, other, input, destination, second); break;
            default: ElementWise.Apply(new FiveToTwo(), other, other, other, other, input, destination, second); break;
        }
    }

    /// <summary>Values whose sum in double depends on the order of the additions (magnitudes from 1e−4 to 1e12, both signs).</summary>
    private static float[] Spread(int n) =>
        Enumerable.Range(0, n).Select(i => (float)((i % 2 == 0 ? 1 : -1) * Math.Pow(10, (i * 7) % 17 - 4) * (1 + 0.1234567 * i))).ToArray();

    private static double DocumentedOrder(float[] x, Func<float, double> term)
    {
        var s = new double[4];
        for (var i = 0; i < x.Length; i++) s[i % 4] += term(x[i]);
        return (s[0] + s[1]) + (s[2] + s[3]);
    }

    [Test]
    public void FixedOrderSumsAddInTheirDocumentedOrder([Range(0, 11)] int n)
    {
        var x = Spread(n);
        Assert.That(BitConverter.DoubleToInt64Bits(FixedOrderSum.Sum(x)), Is.EqualTo(BitConverter.DoubleToInt64Bits(DocumentedOrder(x, v => v))), $"Σ x, n = {n}");
        const double center = 0.37;
        Assert.That(BitConverter.DoubleToInt64Bits(FixedOrderSum.SumOfSquaredDeviations(x, center)),
            Is.EqualTo(BitConverter.DoubleToInt64Bits(DocumentedOrder(x, v => (v - center) * (v - center)))), $"Σ (x − c)², n = {n}");
    }

    [Test]
    public void FixedOrderSumsOfSmallIntegersAreExact([Range(0, 11)] int n)
    {
        // Every element counts once, with its sign, whatever the order: integers add exactly in double.
        var x = Enumerable.Range(1, n).Select(i => (float)(i * i)).ToArray();
        Assert.That(FixedOrderSum.Sum(x), Is.EqualTo(n * (n + 1) * (2 * n + 1) / 6.0));
        Assert.That(FixedOrderSum.SumOfSquaredDeviations(x, 1), Is.EqualTo(x.Sum(v => (v - 1.0) * (v - 1.0))));
    }

    [TestCase(PredictionType.Epsilon, 0.8, 0.6)]
    [TestCase(PredictionType.Sample, 0.3, 0.953939)]
    [TestCase(PredictionType.VPrediction, 0.99, 0.141067)]
    public void PredictionFormulasGivePredictionMathsBits(PredictionType type, double alpha, double sigma)
    {
        var n = 2 * ElementWise.Width + 3;
        var m = Enumerable.Range(0, n).Select(i => MathF.Sin(i * 1.7f) * 1.3f).ToArray();
        var x = Enumerable.Range(0, n).Select(i => MathF.Cos(i * 0.9f) * 0.8f).ToArray();
        foreach (var (formula, math, what) in new (PredictionFormula, Action<float[]>, string)[]
        {
            (PredictionFormula.ToSample(type, alpha, sigma), d => PredictionMath.ToSample(type, m, x, alpha, sigma, d), "x₀"),
            (PredictionFormula.ToEpsilon(type, alpha, sigma), d => PredictionMath.ToEpsilon(type, m, x, alpha, sigma, d), "ε"),
        })
        {
            var expected = new float[n];
            math(expected);
            var actual = new float[n];
            ElementWise.Apply(formula, m, x, actual);
            Assert.That(actual.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(expected.Select(BitConverter.SingleToInt32Bits)), $"{type}: {what}");
        }
    }

    [Test]
    public void UndefinedPredictionTypesAreRefusedByName()
    {
        const PredictionType undefined = (PredictionType)42;
        var buffer = new float[4];
        foreach (var refuse in new TestDelegate[]
        {
            () => PredictionFormula.ToSample(undefined, 0.5, 0.5),
            () => PredictionFormula.ToEpsilon(undefined, 0.5, 0.5),
            () => PredictionMath.ToSample(undefined, buffer, buffer, 0.5, 0.5, new float[4]),
            () => PredictionMath.ToEpsilon(undefined, buffer, buffer, 0.5, 0.5, new float[4]),
        })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(refuse)!;
            Assert.That((e.ParamName, e.ActualValue), Is.EqualTo(("type", (object)undefined)));
            Assert.That(e.Message, Does.Contain("Not a defined prediction type"));
        }
    }
}
