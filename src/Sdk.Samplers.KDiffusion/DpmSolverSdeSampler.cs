using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.KDiffusion;

/// <summary>
/// DPM-Solver++ SDE (k-diffusion's <c>sample_dpmpp_sde</c>, after Lu et al. 2022, https://arxiv.org/abs/2211.01095),
/// as the reference's <c>DPMSolverSDEScheduler</c>: two evaluations per σ interval, the second at the midpoint in
/// t = −log σ, each an ancestral DPM-Solver++ step with fresh noise scaled by <c>s_noise</c>; the last interval, to σ = 0,
/// an Euler step. Karras, exponential and beta σ (<see cref="SigmaSamplerBase"/>).
/// </summary>
/// <remarks>
/// <para>With t = −log σ in float32, t_next = −log σ_next and the midpoint t_mid = t + ½(t_next − t):</para>
/// <list type="number">
/// <item>first call: x̂₀ at σ; σ_from = e^−t, σ_to = e^−t_mid; σ_up = min(σ_to, √(σ_to²(σ_from² − σ_to²)/σ_from²)),
/// σ_down = √(σ_to² − σ_up²); x' = (σ_down/σ_from)·x − expm1(t − t_down)·x̂₀ + z·s_noise·σ_up;</item>
/// <item>second call: x̂₀ at the midpoint σ (from the midpoint sample), the same update over the whole interval
/// (σ_to = e^−t_next), applied to the interval's start.</item>
/// </list>
/// <para>The reference draws z from a Brownian tree queried with (σ_from, σ_to) and divided by √|σ_to − σ_from|, a standard
/// normal per call whose draws agree across the overlapping queries of an interval. With <c>noise_sampler_seed</c> set this
/// sampler does the same (<see cref="BrownianTreeNoise"/>, torchsde's tree, bit for bit for the same seed) and ignores the
/// noise source it is given; without it, z is one draw from the step's noise source. The midpoint timesteps are computed in
/// double from the unrounded σ, as the reference's are.</para>
/// </remarks>
public sealed class DpmSolverSdeSampler(SchedulerConfig config)
    : SigmaSamplerBase(SamplerNames.DpmSolverSde, ClassBetaDefaults.KDiffusion(config), twoEvaluationsPerInterval: true)
{
    private const int NoiseSlot = FirstFreeBufferSlot;
    private double[] _unroundedSigmas = [];
    private BrownianTreeNoise? _tree;

    /// <summary>The spaced timesteps as the reference keeps them, in double (a count's linspace is not rounded to float32).</summary>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        var calls = base.CreateTimesteps(numInferenceSteps);
        if (SigmaSpacing != SigmaSpacing.Timesteps) return calls;
        var exact = ExactSpacedTimesteps(numInferenceSteps);
        // The first evaluation of interval i is call 0, then 2i.
        for (var i = 0; i < exact.Length; i++) calls[i == 0 ? 0 : 2 * i] = exact[i];
        return calls;
    }

    /// <summary>σ at the double spaced timesteps (kept unrounded for the midpoints).</summary>
    protected override double[] ScheduleSigmas(double[] timesteps, int numInferenceSteps) =>
        _unroundedSigmas = InterpolateSigmas(ExactSpacedTimesteps(numInferenceSteps));

    /// <summary>The fractional timestep of each spaced σ in double, as the reference leaves it.</summary>
    protected override double[] TimestepsOfSpacedSigmas(double[] sigmas)
    {
        _unroundedSigmas = sigmas;
        return Array.ConvertAll(sigmas, s => ReferenceFloat32.SigmaToTimestep(s, LogTrainingSigmas));
    }

    /// <summary>
    /// The midpoint in t = −log σ: its timestep from the unrounded σ in double (numpy), its σ from the float32 table as the
    /// step computes it (e^−t_mid, t_mid = t + ½(t_next − t)).
    /// </summary>
    protected override (double Sigma, double Timestep) SecondEvaluation(int interval, float sigma, float sigmaNext, double nextTimestep)
    {
        double from = -Math.Log(_unroundedSigmas[interval]), to = -Math.Log(_unroundedSigmas[interval + 1]);
        var timestep = ReferenceFloat32.SigmaToTimestep(Math.Exp(-(from + (to - from) * 0.5)), LogTrainingSigmas);
        return (Midpoint(sigma, sigmaNext).Mid.Sigma, timestep);
    }

    /// <inheritdoc/>
    protected override void OnReset()
    {
        base.OnReset();
        _tree = null;
    }

    /// <summary>Timesteps come from logarithms and exponentials that .NET may round a unit away from numpy and torch.</summary>
    protected override bool TimestepMatches(double listed, double given) => WithinFloat32Rounding(listed, given);

    /// <inheritdoc/>
    protected override void Advance(in SigmaStep step, INoiseSource noise)
    {
        // 1. The last interval, to σ = 0: an Euler step from x̂₀, no noise.
        if (!step.HasSecondEvaluation)
        {
            EulerStep(step.Sample, step.Denoised, step.SigmaFrom, step.SigmaTo, step.Destination);
            return;
        }

        // 2. t, and the target: the midpoint on the first call, the interval's end on the second (from the interval's start).
        var (t, tMid) = Midpoint(step.SigmaFrom, step.SigmaTo);
        var tNext = step.IsSecondEvaluation ? -MathF.Log(step.SigmaTo) : tMid.T;
        var start = step.IsSecondEvaluation ? step.IntervalStart : step.Sample;

        // 3. The ancestral split of σ_from → σ_to into σ_down (deterministic) and σ_up (noise), in float32.
        float sigmaFrom = MathF.Exp(-t), sigmaTo = MathF.Exp(-tNext);
        var up = MathF.Min(sigmaTo, MathF.Sqrt(sigmaTo * sigmaTo * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo) / (sigmaFrom * sigmaFrom)));
        var down = MathF.Sqrt(sigmaTo * sigmaTo - up * up);
        var tDown = -MathF.Log(down);

        // 4. x' = (σ_down/σ_from)·x − expm1(t − t_down)·x̂₀ + (z·s_noise)·σ_up, z one standard-normal draw.
        var op = new AncestralUpdate(MathF.Exp(-tDown) / MathF.Exp(-t), Expm1(t - tDown), (float)(Config.SNoise ?? 1), up);
        if (Config.NoiseSamplerSeed is not { } seed)
        {
            ApplyWithNoise(op, noise, NoiseSlot, start, step.Denoised, step.Destination);
            return;
        }
        // The reference's noise: the Brownian tree over the table's positive σ range, queried with (σ_from, σ_to).
        _tree ??= new BrownianTreeNoise(start.Length, IntervalSigmas.Where(s => s > 0).Min(), IntervalSigmas.Max(), unchecked((ulong)seed));
        var z = Buffer(NoiseSlot, start.Length);
        _tree.StandardNormal(sigmaFrom, sigmaTo, z);
        ElementWise.Apply(op, start, step.Denoised, (ReadOnlySpan<float>)z, step.Destination);
    }

    // t = −log σ and the midpoint (t_mid, e^−t_mid) of the interval σ → σ_next, in float32.
    private static (float T, (float T, float Sigma) Mid) Midpoint(float sigma, float sigmaNext)
    {
        float t = -MathF.Log(sigma), tNext = -MathF.Log(sigmaNext);
        var mid = t + (tNext - t) * 0.5f;
        return (t, (mid, MathF.Exp(-mid)));
    }

    // expm1 of a float32 argument, rounded once from double (e^x − 1 there is within 10⁻¹⁶ of exact, far below a float32 unit).
    private static float Expm1(float x) => (float)(Math.Exp(x) - 1.0);

    // Double-precision scale of the spaced timesteps (linspace reversed, leading or trailing), as numpy computes them.
    private double[] ExactSpacedTimesteps(int numInferenceSteps)
    {
        var count = Schedule.NumTrainTimesteps;
        if (Spacing != TimestepSpacing.Linspace) return TimestepSpacings.Create(Spacing, count, numInferenceSteps, Config.StepsOffset);
        var timesteps = TimestepSpacings.Linspace(0, count - 1, numInferenceSteps);
        Array.Reverse(timesteps);
        return timesteps;
    }

    // (a·x − b·x̂₀) + (z·s_noise)·σ_up.
    private readonly record struct AncestralUpdate(float SampleScale, float Expm1, float NoiseScale, float Up) : ElementWise.IOperator3
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T x0, T noise) where T : struct, IFloatVector<T> => SampleScale * sample - Expm1 * x0 + noise * NoiseScale * Up;
    }
}
