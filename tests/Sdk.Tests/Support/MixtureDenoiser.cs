using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Support;

/// <summary>
/// The exact ε-predictor for a two-class Gaussian mixture over whole items: x₀ ~ ½N(−0.5·1, s²I) + ½N(+0.5·1, s²I),
/// class = component. Label 0 or 1 conditions on that component; <see cref="Unconditional"/> uses the mixture
/// responsibilities r_k(x_t) ∝ N(x_t; √ᾱμ_k, V·I), V = ᾱs² + 1 − ᾱ. ε̂ = Σ_k r_k √(1−ᾱ)(x_t − √ᾱμ_k)/V.
/// </summary>
public sealed class MixtureDenoiser(Func<double, double> alphaBarAt, int? fixedBatch = null) : IDenoiser
{
    public const long Unconditional = 2;
    public static readonly double[] Means = [-0.5, 0.5];
    public const double Std = 0.2;

    public int Calls { get; private set; }

    public int? FixedBatchSize => fixedBatch;

    public void Dispose() { }

    public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default)
    {
        if (fixedBatch is { } b && input.Shape.Batch != b) throw new InvalidOperationException($"fixed batch {b}, got {input.Shape.Batch}");
        Calls++;
        var abar = alphaBarAt(input.Timestep);
        double a = Math.Sqrt(abar), sigma = Math.Sqrt(1 - abar), v = abar * Std * Std + 1 - abar;
        var d = input.Shape.ItemLength;
        for (var item = 0; item < input.Shape.Batch; item++)
        {
            var x = input.Sample.Slice(item * d, d);
            var label = input.ClassLabels.IsEmpty ? Unconditional : input.ClassLabels[item];
            var r1 = label switch
            {
                0 => 0.0,
                1 => 1.0,
                _ => Responsibility1(x, a, v),
            };
            for (var i = 0; i < d; i++)
            {
                var eps0 = sigma * (x[i] - a * Means[0]) / v;
                var eps1 = sigma * (x[i] - a * Means[1]) / v;
                output[item * d + i] = (float)((1 - r1) * eps0 + r1 * eps1);
            }
        }
    }

    // r_1 = sigmoid(log N_1 − log N_0); the ‖x‖² terms cancel, leaving a linear function of x.
    private static double Responsibility1(ReadOnlySpan<float> x, double a, double v)
    {
        double logit = 0;
        foreach (var xi in x)
            logit += (Math.Pow(xi - a * Means[0], 2) - Math.Pow(xi - a * Means[1], 2)) / (2 * v);
        return 1 / (1 + Math.Exp(-logit));
    }
}
