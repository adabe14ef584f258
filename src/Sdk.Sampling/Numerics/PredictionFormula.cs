using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// One of <see cref="PredictionMath"/>'s conversions as a per-element formula, (m·A + x·B)/D of the model output m and
/// the noisy sample x, to be called inside a sampler's own fused <see cref="ElementWise"/> operator so that converting
/// the network's prediction costs no pass over memory of its own. For every prediction type the value is bit for bit
/// what <see cref="PredictionMath.ToSample"/> / <see cref="PredictionMath.ToEpsilon"/> write (a factor of 1, a term
/// x·0 and a division by 1 change nothing).
/// </summary>
/// <param name="A">The factor of the model output.</param>
/// <param name="B">The factor of the sample.</param>
/// <param name="D">The divisor.</param>
public readonly record struct PredictionFormula(float A, float B, float D) : ElementWise.IOperator2
{
    /// <summary>x₀ from a model output of kind <paramref name="type"/> at x = α·x₀ + σ·ε.</summary>
    public static PredictionFormula ToSample(PredictionType type, double alpha, double sigma) => type switch
    {
        PredictionType.Epsilon => new((float)-sigma, 1f, (float)alpha),      // (ε·(−σ) + x)/α
        PredictionType.Sample => new(1f, 0f, 1f),                           // x₀ itself
        PredictionType.VPrediction => new((float)-sigma, (float)alpha, 1f), // x·α − v·σ
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a defined prediction type."),
    };

    /// <summary>ε from a model output of kind <paramref name="type"/> at x = α·x₀ + σ·ε.</summary>
    public static PredictionFormula ToEpsilon(PredictionType type, double alpha, double sigma) => type switch
    {
        PredictionType.Epsilon => new(1f, 0f, 1f),                          // ε itself
        PredictionType.Sample => new((float)-alpha, 1f, (float)sigma),      // (x₀·(−α) + x)/σ
        PredictionType.VPrediction => new((float)alpha, (float)sigma, 1f),  // v·α + x·σ
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a defined prediction type."),
    };

    /// <summary>The formula on one vector of model outputs and samples.</summary>
    /// <typeparam name="T">The register type of the operator this is called from.</typeparam>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T Invoke<T>(T modelOutput, T sample) where T : struct, IFloatVector<T> => (modelOutput * A + sample * B) / D;
}
