using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.Adaptive;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Testing;

namespace Diffusion.Sdk.Tests.Samplers.Adaptive;

/// <summary>The adaptive DPM-Solver on closed-form Gaussian data, against the exact probability-flow endpoint.</summary>
[TestFixture]
public sealed class AdaptiveDpmSolverTests
{
    private const double SigmaMax = 14.6, SigmaMin = 0.03;
    private static readonly GaussianData Data = new(mean: 0.3, std: 0.5);

    // D(x, σ) through GaussianData's x₀ prediction: σ-space x is the variance-preserving sample scaled by √(1 + σ²).
    private static void Denoise(ReadOnlySpan<float> x, double sigma, Span<float> denoised)
    {
        var scale = Math.Sqrt(1 + sigma * sigma);
        var vp = new float[x.Length];
        for (var i = 0; i < x.Length; i++) vp[i] = (float)(x[i] / scale);
        Data.Predict(PredictionType.Sample, vp, 1 / (1 + sigma * sigma), denoised);
    }

    private static double Exact(double x)
    {
        double a = 1 / (1 + SigmaMax * SigmaMax), aFinal = 1 / (1 + SigmaMin * SigmaMin);
        return Data.ExactFlow(x / Math.Sqrt(1 + SigmaMax * SigmaMax), a, aFinal) * Math.Sqrt(1 + SigmaMin * SigmaMin);
    }

    private static (double MaxError, double MaxAllowed, AdaptiveSolveInfo Info) Solve(AdaptiveDpmSolverOptions options)
    {
        var x = new float[256];
        new TorchGaussianNoise(3).NextGaussian(x);
        for (var i = 0; i < x.Length; i++) x[i] = (float)(x[i] * SigmaMax);
        var start = x.ToArray();
        var info = new AdaptiveDpmSolver(options).Solve(Denoise, x, SigmaMax, SigmaMin);
        double maxError = 0, maxRatio = 0;
        for (var i = 0; i < x.Length; i++)
        {
            var exact = Exact(start[i]);
            var error = Math.Abs(x[i] - exact);
            maxError = Math.Max(maxError, error);
            maxRatio = Math.Max(maxRatio, error / (options.Atol + options.Rtol * Math.Abs(exact)));
        }
        return (maxError, maxRatio, info);
    }

    [TestCase(3)]
    [TestCase(2)]
    public void LandsWithinTheToleranceOfTheExactEndpointAndTheErrorShrinksWithRtol(int order)
    {
        var runs = new[] { 0.05, 0.01, 0.002, 1e-4, 1e-5 }.Select(rtol => Solve(new AdaptiveDpmSolverOptions { Order = order, Rtol = rtol, Atol = rtol / 5 })).ToArray();
        foreach (var (error, ratio, info) in runs)
            TestContext.Out.WriteLine($"order {order}: max error {error:E2}, {ratio:F3} of atol + rtol·|x|; {info.Accepted} accepted, {info.Rejected} rejected, {info.ModelEvaluations} evaluations");
        Assert.Multiple(() =>
        {
            foreach (var (_, ratio, info) in runs)
            {
                // The controller bounds each step's local error (an RMS over the elements); the endpoint's worst element
                // carries the steps' errors added up, measured at 0.75 to 9.1 × (atol + rtol·|exact|).
                Assert.That(ratio, Is.LessThanOrEqualTo(10), "every element within 10 × (atol + rtol·|exact|)");
                Assert.That(info.ModelEvaluations, Is.EqualTo(info.Steps * order - info.Rejected), "order evaluations a step, the first kept across a rejection");
                Assert.That(info.Sigmas[0], Is.EqualTo(SigmaMax));
                Assert.That(info.Sigmas[^1], Is.EqualTo(SigmaMin).Within(1e-9));
                Assert.That(info.Sigmas, Is.Ordered.Descending);
            }
            for (var k = 1; k < runs.Length; k++)
            {
                Assert.That(runs[k].MaxError, Is.LessThan(runs[k - 1].MaxError), $"rtol {k}: a tighter tolerance lands closer");
                Assert.That(runs[k].Info.ModelEvaluations, Is.GreaterThan(runs[k - 1].Info.ModelEvaluations), "and takes more evaluations");
            }
            Assert.That(runs[^1].MaxError, Is.LessThan(1e-4), "at rtol 1e-5 the endpoint is exact to 1e-4");
        });
    }

    [Test]
    public void BadSettingsAreTypedErrorsNamingTheSetting()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Assert.Throws<SamplingOptionException>(() => new AdaptiveDpmSolver(new() { Order = 4 }))!.Option, Is.EqualTo("Order"));
            Assert.That(Assert.Throws<SamplingOptionException>(() => new AdaptiveDpmSolver(new() { Rtol = 0 }))!.Option, Is.EqualTo("Rtol"));
            Assert.That(Assert.Throws<SamplingOptionException>(() => new AdaptiveDpmSolver(new() { Atol = double.NaN }))!.Option, Is.EqualTo("Atol"));
            Assert.That(Assert.Throws<SamplingOptionException>(() => new AdaptiveDpmSolver(new() { HInit = 0 }))!.Option, Is.EqualTo("HInit"));
            Assert.That(Assert.Throws<SamplingOptionException>(() => new AdaptiveDpmSolver(new() { AcceptSafety = 2 }))!.Option, Is.EqualTo("AcceptSafety"));
        });
    }

    [Test]
    public void TheIntegralControllerRejectsALargeErrorAndShrinksTheStep()
    {
        var pid = new PidStepSizeController(h: 1, pcoeff: 0, icoeff: 1, dcoeff: 0, order: 3, acceptSafety: 0.81);
        Assert.Multiple(() =>
        {
            Assert.That(pid.Propose(100), Is.False);
            Assert.That(pid.H, Is.EqualTo(1 + Math.Atan(Math.Pow(1 / (100 + 1e-8), 1.0 / 3) - 1)).Within(1e-12));
            Assert.That(pid.Propose(0.01), Is.True);
        });
    }
}
