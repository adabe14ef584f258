using System.Numerics;
using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// Conversions between what a network predicts (ε, x₀ or v) at a noisy sample x_t = α·x₀ + σ·ε, where
/// α = √ᾱ_t and σ = √(1−ᾱ_t). The closed forms used never divide by a small number:
/// x₀ = α·x_t − σ·v, ε = α·v + σ·x_t, v = α·ε − σ·x₀ (Salimans &amp; Ho 2022, §4 and appendix D). Only the two
/// conversions that need it divide, by α for ε → x₀ and by σ for x₀ → ε, exactly as the methods define them.
/// All methods write into a caller-owned destination (which may alias the model output) and allocate nothing, each in
/// one pass over memory (<see cref="ElementWise"/>) with the roundings of the two-call form written in its comment.
/// </summary>
public static class PredictionMath
{
    /// <summary>The predicted clean sample x₀ from a model output of kind <paramref name="type"/>.</summary>
    /// <param name="type">What <paramref name="modelOutput"/> holds.</param>
    /// <param name="modelOutput">The network output.</param>
    /// <param name="sample">The noisy sample x_t the network saw.</param>
    /// <param name="alpha">√ᾱ_t.</param>
    /// <param name="sigma">√(1−ᾱ_t).</param>
    /// <param name="destination">Receives x₀.</param>
    public static void ToSample(PredictionType type, ReadOnlySpan<float> modelOutput, ReadOnlySpan<float> sample, double alpha, double sigma, Span<float> destination)
    {
        switch (type)
        {
            case PredictionType.Epsilon:
                // x₀ = (x_t − σ·ε)/α  (Ho et al. 2020, eq. 15), as (ε·(−σ) + x_t)/α
                ElementWise.Apply(new AffineThenDivide((float)-sigma, (float)alpha), modelOutput, sample, destination);
                break;
            case PredictionType.Sample:
                modelOutput.CopyTo(destination);
                break;
            case PredictionType.VPrediction:
                // x₀ = α·x_t − σ·v
                Combine((float)alpha, sample, (float)-sigma, modelOutput, destination);
                break;
            case PredictionType.FlowPrediction:
                // x₀ = x_t − σ·v for a flow velocity v = ε − x₀ (x_t = (1 − σ)·x₀ + σ·ε; σ is the flow σ)
                Combine(1f, sample, (float)-sigma, modelOutput, destination);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "Not a defined prediction type.");
        }
    }

    /// <summary>The predicted noise ε from a model output of kind <paramref name="type"/>.</summary>
    /// <inheritdoc cref="ToSample" path="/param"/>
    public static void ToEpsilon(PredictionType type, ReadOnlySpan<float> modelOutput, ReadOnlySpan<float> sample, double alpha, double sigma, Span<float> destination)
    {
        switch (type)
        {
            case PredictionType.Epsilon:
                modelOutput.CopyTo(destination);
                break;
            case PredictionType.Sample:
                // ε = (x_t − α·x₀)/σ, as (x₀·(−α) + x_t)/σ
                ElementWise.Apply(new AffineThenDivide((float)-alpha, (float)sigma), modelOutput, sample, destination);
                break;
            case PredictionType.VPrediction:
                // ε = α·v + σ·x_t
                Combine((float)alpha, modelOutput, (float)sigma, sample, destination);
                break;
            case PredictionType.FlowPrediction:
                // ε = x_t + α·v for a flow velocity (α = 1 − σ)
                Combine(1f, sample, (float)alpha, modelOutput, destination);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "Not a defined prediction type.");
        }
    }

    /// <summary>The velocity v = α·ε − σ·x₀ from a noise prediction and the matching x₀ prediction.</summary>
    public static void ToVelocity(ReadOnlySpan<float> epsilon, ReadOnlySpan<float> sample0, double alpha, double sigma, Span<float> destination) =>
        Combine((float)alpha, epsilon, (float)-sigma, sample0, destination);

    /// <summary>The velocity from a noise prediction and the noisy sample alone: v = (ε − σ·x_t)/α.</summary>
    public static void EpsilonToVelocity(ReadOnlySpan<float> epsilon, ReadOnlySpan<float> sample, double alpha, double sigma, Span<float> destination) =>
        // (x_t·(−σ) + ε)/α
        ElementWise.Apply(new AffineThenDivide((float)-sigma, (float)alpha), sample, epsilon, destination);

    /// <summary>destination = a·x + b·y, element-wise, in one pass; the destination may be the memory of x or y.</summary>
    public static void Combine(float a, ReadOnlySpan<float> x, float b, ReadOnlySpan<float> y, Span<float> destination) =>
        ElementWise.Apply(new Combination2(a, b), x, y, destination);

    /// <summary>destination = (a·x + b·y) + c·z, element-wise, in one pass (summed in that order); the destination may be the memory of an input.</summary>
    public static void Combine(float a, ReadOnlySpan<float> x, float b, ReadOnlySpan<float> y, float c, ReadOnlySpan<float> z, Span<float> destination) =>
        ElementWise.Apply(new Combination3(a, b, c), x, y, z, destination);

    /// <summary>destination = ((a·x + b·y) + c·z) + d·w, element-wise, in one pass; the destination may be the memory of an input.</summary>
    public static void Combine(float a, ReadOnlySpan<float> x, float b, ReadOnlySpan<float> y, float c, ReadOnlySpan<float> z, float d, ReadOnlySpan<float> w,
        Span<float> destination) =>
        ElementWise.Apply(new Combination4(a, b, c, d), x, y, z, w, destination);

    /// <summary>destination = (((a·x + b·y) + c·z) + d·w) + e·v, element-wise, in one pass; the destination may be the memory of an input.</summary>
    public static void Combine(float a, ReadOnlySpan<float> x, float b, ReadOnlySpan<float> y, float c, ReadOnlySpan<float> z, float d, ReadOnlySpan<float> w,
        float e, ReadOnlySpan<float> v, Span<float> destination) =>
        ElementWise.Apply(new Combination5(a, b, c, d, e), x, y, z, w, v, destination);

    /// <summary>destination = x / d, element-wise, in one pass (the σ-space samplers' model-input scaling); the destination may be x's memory.</summary>
    public static void Divide(ReadOnlySpan<float> x, float divisor, Span<float> destination) =>
        ElementWise.Apply(new DivideBy(divisor), x, destination);

    /// <summary>destination = a·x, element-wise, in one pass; the destination may be x's memory.</summary>
    public static void Multiply(ReadOnlySpan<float> x, float a, Span<float> destination) =>
        ElementWise.Apply(new MultiplyBy(a), x, destination);

    /// <summary>
    /// destination = x·a + y, element-wise, in one pass, rounded after the product and after the sum (not fused), as
    /// <c>TensorPrimitives.MultiplyAdd</c>; the destination may be the memory of x or y.
    /// </summary>
    public static void MultiplyAdd(ReadOnlySpan<float> x, float a, ReadOnlySpan<float> y, Span<float> destination) =>
        ElementWise.Apply(new ScaledSum(a), x, y, destination);

    /// <summary>x·a + y.</summary>
    private readonly record struct ScaledSum(float A) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T y) where T : struct, IFloatVector<T> => x * A + y;
    }

    /// <summary>a·x.</summary>
    private readonly record struct MultiplyBy(float A) : ElementWise.IOperator1
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x) where T : struct, IFloatVector<T> => x * A;
    }

    /// <summary>
    /// x̂₀ of an ε model on one vector, clamped: clamp((ε·(−σ) + x)/α, −r, r), rounded as <see cref="ToSample"/>
    /// followed by <see cref="SampleThresholding.Clip"/>; an infinite <paramref name="range"/> clamps nothing (the bits
    /// of <see cref="ToSample"/> alone). For steps that compute x̂₀ inside their update's pass.
    /// </summary>
    /// <typeparam name="T">The register type of the operator this is called from.</typeparam>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T ClampedSampleFromEpsilon<T>(T epsilon, T sample, float minusSigma, float alpha, float range) where T : struct, IFloatVector<T> =>
        ClampSymmetric((epsilon * minusSigma + sample) / alpha, range);

    /// <summary>
    /// max(min(x, r), −r) with the IEEE 754-2019 minimum and maximum of <see cref="Vector.Min{T}(Vector{T}, Vector{T})"/>,
    /// <see cref="Vector.Max{T}(Vector{T}, Vector{T})"/> and <c>TensorPrimitives.Min</c>/<c>Max</c> (a NaN stays NaN,
    /// −0 is below +0), in two instructions instead of their NaN and zero fix-ups: with the bound as the first operand,
    /// the native minimum (first &lt; second ? first : second) returns x for a NaN x and for any zero x when r ≥ 0, and
    /// for +0 against −0 the second operand, which is what the IEEE minimum gives; likewise the native maximum with −r
    /// first. <paramref name="range"/> must not be NaN (configurations hold a finite <c>clip_sample_range</c> &gt; 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static T ClampSymmetric<T>(T x, float range) where T : struct, IFloatVector<T> =>
        T.MaxNative(T.Create(-range), T.MinNative(T.Create(range), x));

    /// <summary>x / d.</summary>
    private readonly record struct DivideBy(float Divisor) : ElementWise.IOperator1
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x) where T : struct, IFloatVector<T> => x / Divisor;
    }

    /// <summary>(u·m + v)/d: the conversions that divide.</summary>
    private readonly record struct AffineThenDivide(float Multiplier, float Divisor) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T u, T v) where T : struct, IFloatVector<T> => (u * Multiplier + v) / Divisor;
    }

    /// <summary>x·a + y·b.</summary>
    private readonly record struct Combination2(float A, float B) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T y) where T : struct, IFloatVector<T> => x * A + y * B;
    }

    /// <summary>(x·a + y·b) + z·c.</summary>
    private readonly record struct Combination3(float A, float B, float C) : ElementWise.IOperator3
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T y, T z) where T : struct, IFloatVector<T> => x * A + y * B + z * C;
    }

    /// <summary>((x·a + y·b) + z·c) + w·d.</summary>
    private readonly record struct Combination4(float A, float B, float C, float D) : ElementWise.IOperator4
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T y, T z, T w) where T : struct, IFloatVector<T> => x * A + y * B + z * C + w * D;
    }

    /// <summary>(((x·a + y·b) + z·c) + w·d) + v·e.</summary>
    private readonly record struct Combination5(float A, float B, float C, float D, float E) : ElementWise.IOperator5
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T x, T y, T z, T w, T v) where T : struct, IFloatVector<T> => x * A + y * B + z * C + w * D + v * E;
    }
}
