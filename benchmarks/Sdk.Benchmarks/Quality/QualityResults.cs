using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
namespace Diffusion.Benchmarks.Quality;

/// <summary>One sampler at one NFE on the mixture network.</summary>
/// <param name="Sampler">Variant key.</param>
/// <param name="Label">Variant name.</param>
/// <param name="Nfe">Network evaluations per sample (the grid point).</param>
/// <param name="Steps">Inference steps that cost that many evaluations.</param>
/// <param name="ModelEvaluations">Calls the pipeline made to the network (checked equal to <paramref name="Nfe"/>).</param>
/// <param name="Distance">Sliced Wasserstein-1 distance to the exact reference set.</param>
/// <param name="Seconds">Wall time of the generation.</param>
public sealed record MixturePoint(string Sampler, string Label, int Nfe, int Steps, int ModelEvaluations, double Distance, double Seconds);

/// <summary>The smallest NFE of the grid at which a sampler's distance is within 10 % of DDPM-1000's.</summary>
/// <param name="Sampler">Variant key.</param>
/// <param name="Label">Variant name.</param>
/// <param name="Nfe">That NFE, or null when no grid point gets there.</param>
public sealed record ReachPoint(string Sampler, string Label, int? Nfe);

/// <summary>Quality per NFE on the closed-form mixture network.</summary>
public sealed record MixtureQualityResult
{
    public required string Model { get; init; }
    public required string ItemShape { get; init; }
    public required int Samples { get; init; }
    public required string Statistic { get; init; }
    public required int Directions { get; init; }
    public required ulong Seed { get; init; }
    public required int[] NfeGrid { get; init; }
    /// <summary>Mean of the statistic between the reference set and independent exact sets (the noise floor).</summary>
    public required double FloorMean { get; init; }
    /// <summary>Standard deviation of those floor draws.</summary>
    public required double FloorStd { get; init; }
    public required double[] FloorDraws { get; init; }
    /// <summary>Distance of a sampler that ignores the data: x₀ ~ N(0, I) (for scale).</summary>
    public required double StandardNormalDistance { get; init; }
    public required double Ddpm1000Distance { get; init; }
    public required List<MixturePoint> Points { get; init; }
    public required List<ReachPoint> WithinTenPercentOfDdpm1000 { get; init; }
    public required double Seconds { get; init; }
}

/// <summary>One sampler at one NFE on the digits model.</summary>
/// <param name="Sampler">Variant key.</param>
/// <param name="Label">Variant name.</param>
/// <param name="Nfe">Denoiser calls per sample (each a conditional + unconditional pair when guided).</param>
/// <param name="Steps">Inference steps.</param>
/// <param name="ModelEvaluations">Calls the pipeline made to the network per batch.</param>
/// <param name="Samples">Digits generated (equal numbers per class).</param>
/// <param name="Accuracy">Share classified as the class they were generated for.</param>
/// <param name="PerClassAccuracy">The same per class 0–9.</param>
/// <param name="Frechet">Fréchet distance of the classifier features to the 10,000 real digits.</param>
/// <param name="Seconds">Wall time of the generation.</param>
public sealed record DigitsPoint(string Sampler, string Label, int Nfe, int Steps, int ModelEvaluations, int Samples, double Accuracy, double[] PerClassAccuracy, double Frechet, double Seconds);

/// <summary>Class accuracy and Fréchet distance per NFE on the embedded digits model.</summary>
public sealed record DigitsQualityResult
{
    public required double Guidance { get; init; }
    public required int SamplesPerPoint { get; init; }
    public required int[] NfeGrid { get; init; }
    public required ulong Seed { get; init; }
    public required List<DigitsPoint> Points { get; init; }
    public required double Seconds { get; init; }
}
