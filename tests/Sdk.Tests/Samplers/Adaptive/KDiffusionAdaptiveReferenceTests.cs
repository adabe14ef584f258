using System.Text.Json;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Samplers.Adaptive;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Samplers.Adaptive;

/// <summary>
/// The adaptive DPM-Solver against k-diffusion's own <c>sample_dpm_adaptive</c>, step for step: the same accept and
/// reject decisions, σ, error estimates and samples, on a closed-form Gaussian denoiser (data made by
/// <c>tools/adaptive-reference/make_reference.py</c>; see its docstring).
/// </summary>
[TestFixture]
public sealed class KDiffusionAdaptiveReferenceTests
{
    private static readonly JsonDocument Reference = JsonDocument.Parse(File.ReadAllText(TestData.Path("adaptive", "k-diffusion-dpm-adaptive.json")));

    public static IEnumerable<TestCaseData> Cases() =>
        Reference.RootElement.GetProperty("cases").EnumerateArray().Select(c => new TestCaseData(c.GetProperty("name").GetString()).SetName($"KDiffusion_{c.GetProperty("name").GetString()}"));

    private static JsonElement Case(string name) => Reference.RootElement.GetProperty("cases").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();

    /// <summary>The closed form of the data, D(x, σ)_i = μ_i + s_i²/(s_i² + σ²)·(x_i − μ_i), in float32 as the reference's torch model computes it.</summary>
    internal static SigmaDenoiser GaussianDenoiser()
    {
        var root = Reference.RootElement;
        var mean = Floats(root.GetProperty("mean"));
        var std = Floats(root.GetProperty("std"));
        return (x, sigma, denoised) =>
        {
            var sigma2 = (float)sigma * (float)sigma;
            for (var i = 0; i < x.Length; i++)
            {
                var s2 = std[i] * std[i];
                denoised[i] = mean[i] + s2 / (s2 + sigma2) * (x[i] - mean[i]);
            }
        };
    }

    internal static AdaptiveDpmSolverOptions Options(JsonElement c) => new()
    {
        Order = c.GetProperty("order").GetInt32(),
        Rtol = c.GetProperty("rtol").GetDouble(),
        Atol = c.GetProperty("atol").GetDouble(),
        HInit = c.GetProperty("h_init").GetDouble(),
        PCoeff = c.GetProperty("pcoeff").GetDouble(),
        ICoeff = c.GetProperty("icoeff").GetDouble(),
        DCoeff = c.GetProperty("dcoeff").GetDouble(),
        AcceptSafety = c.GetProperty("accept_safety").GetDouble(),
        Eta = c.GetProperty("eta").GetDouble(),
    };

    // Tolerances: every decision equal; x within 1e-4 + 1e-4·|x| at every accepted step and at the end; σ within
    // 5e-4 relative; the error estimate within 2 % + 1e-5. The estimate is the difference of two float32 solutions,
    // a few float32 units early in a run, so one unit of difference in a coefficient (torch's float32 exp and expm1
    // round differently from .NET's in a few percent of arguments) moves it by 0.1 %, and the next step size with it.
    [TestCaseSource(nameof(Cases))]
    public void MatchesKDiffusionStepForStep(string name)
    {
        var c = Case(name);
        var root = Reference.RootElement;
        double sigmaMin = root.GetProperty("sigma_min").GetDouble(), sigmaMax = root.GetProperty("sigma_max").GetDouble();
        var noise = new TorchGaussianNoise((ulong)c.GetProperty("seed").GetInt32());
        var x = new float[Floats(c.GetProperty("initial")).Length];
        noise.NextGaussian(x);
        for (var i = 0; i < x.Length; i++) x[i] *= (float)sigmaMax;
        Assert.That(x, Is.EqualTo(Floats(c.GetProperty("initial"))), "x_T = randn·σ_max, bit for bit");

        var integrator = new AdaptiveDpmIntegrator(Options(c));
        var denoise = GaussianDenoiser();
        var denoised = new float[x.Length];
        integrator.Begin(x, sigmaMax, sigmaMin);
        var steps = c.GetProperty("steps").EnumerateArray().ToArray();
        var k = 0;
        Assert.Multiple(() =>
        {
            while (!integrator.IsFinished && k < steps.Length)
            {
                var sigma = integrator.Propose(out var point);
                denoise(point, sigma, denoised);
                var result = integrator.Observe(denoised, noise);
                if (result == AdaptiveStepResult.Pending) continue;
                var expected = steps[k++];
                var accepted = expected.GetProperty("accepted").GetBoolean();
                Assert.That(result, Is.EqualTo(accepted ? AdaptiveStepResult.Accepted : AdaptiveStepResult.Rejected), $"step {k - 1}: the same decision");
                Assert.That(integrator.Sigma, Is.EqualTo(expected.GetProperty("sigma").GetDouble()).Within(5e-2).Percent, $"step {k - 1}: σ");
                var error = expected.GetProperty("error").GetDouble();
                Assert.That(integrator.LastError, Is.EqualTo(error).Within(1e-5 + 0.02 * error), $"step {k - 1}: the error estimate");
                if (accepted) Tolerance.AssertClose(integrator.Sample, Doubles(expected.GetProperty("x")), $"step {k - 1}: x");
            }
            Assert.That(integrator.IsFinished, Is.True, "finished when the reference did");
            Assert.That(k, Is.EqualTo(steps.Length), "as many steps tried");
            Assert.That(integrator.Accepted, Is.EqualTo(c.GetProperty("accepted").GetInt32()));
            Assert.That(integrator.Rejected, Is.EqualTo(c.GetProperty("rejected").GetInt32()));
            Assert.That(integrator.Evaluations, Is.EqualTo(c.GetProperty("nfe").GetInt32() - integrator.Rejected),
                "k-diffusion re-evaluates D at (x, s) after a rejection; the SDK keeps it");
            Tolerance.AssertClose(integrator.Sample, Doubles(c.GetProperty("final")), "final x");
        });
    }
}
