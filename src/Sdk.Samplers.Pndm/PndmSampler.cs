using System.Runtime.CompilerServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.Pndm;

/// <summary>
/// "Pseudo Numerical Methods for Diffusion Models on Manifolds" (Liu, Ren, Lin &amp; Zhao 2022,
/// https://arxiv.org/abs/2202.09778): a step is the DDIM-shaped transfer part
/// φ(x_t, e, t, t') = √(ᾱ_{t'}/ᾱ_t)·x_t − (ᾱ_{t'} − ᾱ_t)·e / (ᾱ_t·√(1−ᾱ_{t'}) + √(ᾱ_t(1−ᾱ_t)ᾱ_{t'})) (eq. 9)
/// fed with a gradient part e built from several network outputs (eqs. 10–13): three pseudo Runge–Kutta steps
/// (four evaluations each, weights 1/6, 1/3, 1/3, 1/6) warm up a history of ε, then the pseudo linear multistep
/// method combines the last four: e = (55·ε_t − 59·ε_{t+δ} + 37·ε_{t+2δ} − 9·ε_{t+3δ})/24.
/// </summary>
/// <remarks>
/// <para>
/// Defaults as the reference (<c>PNDMScheduler</c>): <c>skip_prk_steps</c> false, <c>set_alpha_to_one</c> false,
/// <c>timestep_spacing</c> leading. <see cref="ISampler.Timesteps"/> lists every network evaluation, so the
/// Runge–Kutta warm-up visits timesteps twice: 3·4 evaluations on the first four inference timesteps, then one per
/// remaining timestep. With <c>skip_prk_steps</c> the warm-up is the PLMS variant of crowsonkb (an Euler step, then a
/// Heun correction at the same timestep, listed twice), and the multistep order grows 1, 2, 3, 4 with the history.
/// </para>
/// <para>
/// <see cref="Order"/> is 1, as the reference reports: every evaluation already has its own entry in the timestep list.
/// </para>
/// <para>
/// Prediction types: ε is used as is. v is turned into ε inside φ, after the gradient part has combined the raw v
/// outputs, with the x_t and ᾱ_t of the step's start, exactly as the reference does (see <see cref="Transfer"/>).
/// x₀ (<c>sample</c>), which the reference refuses, is turned into ε = (x_t − √ᾱ_t·x₀)/√(1−ᾱ_t) where the network
/// produced it (its own x_t and t) before it enters the history; that conversion is exact, so PNDM on an x₀ model
/// is the same method as on the equivalent ε model.
/// </para>
/// <para>
/// Explicit timestep lists are refused: the warm-up structure and the fixed multistep coefficients are tied to the
/// sampler's own even spacing (T // n), which an arbitrary list does not have.
/// </para>
/// <para>
/// A run must start at the first timestep, except with <c>skip_prk_steps</c>, where it may start at any timestep
/// after the duplicated one (image-to-image): the history restarts with the Euler/Heun warm-up there, as it does in
/// the reference, whose history counts steps, not positions.
/// </para>
/// <para>No x₀ prediction is reported (the reference reports none either).</para>
/// </remarks>
public sealed class PndmSampler : SamplerBase
{
    // Scratch buffer slots: the ε history is a ring of four (0–3), then the Runge–Kutta accumulator, the sample the
    // current Runge–Kutta (or Euler/Heun) step starts from, the combined gradient part, and an x₀→ε conversion.
    private const int History = 0, HistorySlots = 4, Accumulator = 4, StartSample = 5, Gradient = 6, Converted = 7;

    // Evaluations of the Runge–Kutta warm-up: three full steps of four evaluations each (the reference's pndm_order 4).
    private const int PrkEvaluations = 12;

    // ᾱ as the reference holds it (float32, Float32Schedule) and its ᾱ before the first step; the step's coefficients are
    // float32 from these, as its 0-dimensional tensors compute them (on the cosine schedule ᾱ near the end is ~10⁻⁹ and
    // φ's two terms nearly cancel, so double coefficients miss its float32 result).
    private readonly float[] _alphasCumprod;
    private readonly float _finalAlphaCumprod;
    private readonly bool _skipPrkSteps;

    private int _counter;       // evaluations consumed since the timesteps were set (the reference's `counter`)
    private int _historyCount;  // outputs pushed into the ring (the reference's len(ets), uncapped)
    private int _length;        // the sample length the history was built for

    /// <summary>Creates the sampler; throws <see cref="SchedulerConfigException"/> for an invalid configuration.</summary>
    public PndmSampler(SchedulerConfig config) : base(SamplerNames.Pndm, config)
    {
        // ᾱ "before" the first training step: 1 (a clean image) or ᾱ_0, as set_alpha_to_one says (reference default: ᾱ_0).
        _alphasCumprod = Array.ConvertAll(Float32Schedule.AlphasCumprod(Config), v => (float)v);
        _finalAlphaCumprod = (Config.SetAlphaToOne ?? false) ? 1f : _alphasCumprod[0];
        _skipPrkSteps = Config.SkipPrkSteps ?? false;
    }

    /// <inheritdoc/>
    /// <remarks>The reference's <c>order</c> is 1: each Runge–Kutta evaluation has its own timestep entry.</remarks>
    public override int Order => 1;

    /// <inheritdoc/>
    /// <remarks>False: PNDM's warm-up and multistep coefficients assume its own even spacing.</remarks>
    public override bool AcceptsExplicitTimesteps => false;

    /// <inheritdoc/>
    protected override double[] CreateTimesteps(int numInferenceSteps)
    {
        var T = Schedule.NumTrainTimesteps;
        if (!_skipPrkSteps && numInferenceSteps < 4)
            throw new SchedulerConfigException("num_inference_steps", numInferenceSteps.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "at least 4 when skip_prk_steps is false (the Runge–Kutta warm-up spans the first four timesteps); set skip_prk_steps to true for fewer steps");

        // 1. The inference timesteps t_0 > t_1 > … > t_{n−1}, descending.
        var spaced = TimestepSpacings.Create(Config.TimestepSpacing ?? TimestepSpacing.Leading, T, numInferenceSteps, Config.StepsOffset);
        if (spaced[0] > T - 1)
            throw new SchedulerConfigException("steps_offset", Config.StepsOffset.ToString(System.Globalization.CultureInfo.InvariantCulture),
                $"an offset that keeps the largest timestep ({spaced[0] - Config.StepsOffset} + steps_offset) at most {T - 1} for {numInferenceSteps} steps");

        if (_skipPrkSteps)
        {
            // 2a. PLMS only: t_0, t_1, t_1, t_2, …, t_{n−1}. t_1 is listed twice: an Euler step t_0 → t_1, then the network
            // at that Euler estimate feeds a Heun correction of the same step (see StepPlms, counter 1).
            var list = new double[numInferenceSteps == 1 ? 1 : numInferenceSteps + 1];
            list[0] = spaced[0];
            for (var i = 1; i < numInferenceSteps; i++) list[i + 1] = spaced[i];
            if (numInferenceSteps > 1) list[1] = spaced[1];
            return list;
        }

        // 2b. Runge–Kutta on t_0 → t_1 → t_2 → t_3, each step evaluated at t, t − h, t − h, t − δ with h = (T // n) // 2,
        // then PLMS from t_3 on (t_3 is listed twice: the last Runge–Kutta evaluation and the first multistep one).
        // As in the reference, h comes from T // n even for linspace/trailing spacing, whose gaps differ from it.
        var h = T / numInferenceSteps / 2;
        var result = new double[PrkEvaluations + numInferenceSteps - 3];
        for (var k = 0; k < 3; k++)
        {
            result[4 * k] = spaced[k];
            result[4 * k + 1] = result[4 * k + 2] = spaced[k + 1] + h;
            result[4 * k + 3] = spaced[k + 1];
        }
        for (var i = 3; i < numInferenceSteps; i++) result[PrkEvaluations + i - 3] = spaced[i];
        return result;
    }

    /// <inheritdoc/>
    protected override void OnReset()
    {
        _counter = 0;
        _historyCount = 0;
    }

    /// <inheritdoc/>
    protected override bool Step(int stepIndex, in StepInput input, in StepOutput output, INoiseSource noise)
    {
        var n = input.Sample.Length;
        if (_counter == 0)
        {
            // Runge–Kutta needs the whole warm-up; with skip_prk_steps a run may start anywhere the Euler/Heun pair can
            // follow (not on the duplicated t_1, whose second entry would then be a Heun correction of nothing).
            if (stepIndex != 0 && (!_skipPrkSteps || stepIndex < 3))
                throw new SamplerStateException(_skipPrkSteps
                    ? $"The '{Name}' sampler cannot start at timestep {Format(input.Timestep)} (step {stepIndex + 1}): its warm-up uses that timestep twice. Call SetTimesteps and start at the first entry or at the fourth or a later one."
                    : $"The '{Name}' sampler must start at its first timestep {Format(Timesteps[0])}: its Runge–Kutta warm-up cannot start part-way. Call SetTimesteps and start there, or set skip_prk_steps to true to start later (image-to-image).");
            _length = n;
            // Claim every scratch buffer now (same memory for the same length), so that later steps allocate nothing.
            for (var slot = 0; slot <= Converted; slot++) Buffer(slot, n);
        }
        else if (n != _length)
        {
            throw new ArgumentException($"The sample has {n} values but this run's history was built for {_length}; call SetTimesteps to start a new run.", nameof(input));
        }

        // 1. The network output as the method's gradient quantity: ε or v as given; x₀ turned into ε where it was produced.
        var modelOutput = input.ModelOutput;
        if (Config.PredictionType == PredictionType.Sample)
        {
            var t = TrainingIndex(input.Timestep);
            var epsilon = Buffer(Converted, n);
            PredictionMath.ToEpsilon(PredictionType.Sample, modelOutput, input.Sample, MathF.Sqrt(_alphasCumprod[t]), MathF.Sqrt(1 - _alphasCumprod[t]), epsilon);
            modelOutput = epsilon;
        }

        if (!_skipPrkSteps && _counter < PrkEvaluations) StepPrk(input, modelOutput, output.PrevSample);
        else StepPlms(input, modelOutput, output.PrevSample);
        _counter++;
        return false;
    }

    /// <summary>One of the four evaluations of a pseudo Runge–Kutta step from t to t − δ.</summary>
    private void StepPrk(in StepInput input, ReadOnlySpan<float> modelOutput, Span<float> prevSample)
    {
        var n = input.Sample.Length;
        var h = Schedule.NumTrainTimesteps / NumInferenceSteps!.Value / 2;
        var stage = _counter % 4;

        // 2. Where this evaluation's φ lands: the half step t − h after stages 0 and 1, the full step after 2 and 3.
        // As in the reference it is the given timestep minus h (stages 0, 2) or the given timestep itself (1, 3), and
        // every stage starts from the step's start t and x_t. Where T // n is odd, or the spacing is not leading, stage 0
        // lands on t − h while the list evaluates the network at t_{k+1} + h, a different timestep; reproduced on purpose.
        var prevTimestep = input.Timestep - (stage % 2 == 1 ? 0 : h);
        var timestep = Timesteps[_counter / 4 * 4];

        var accumulator = Buffer(Accumulator, n);
        var start = Buffer(StartSample, n);
        ReadOnlySpan<float> gradient = modelOutput;
        switch (stage)
        {
            case 0:
                // e₁ = ε(x_t, t): it starts the weighted sum and is the history entry for t.
                PredictionMath.Multiply(modelOutput, 1f / 6, accumulator);
                Push(modelOutput);
                input.Sample.CopyTo(start);
                break;
            case 1:
            case 2:
                // e₂ = ε(φ(x_t, e₁, t, t − h), t − h) and e₃ = ε(φ(x_t, e₂, t, t − h), t − h), each weighted 1/3.
                PredictionMath.MultiplyAdd(modelOutput, 1f / 3, accumulator, accumulator);
                break;
            default:
                // e₄ = ε(φ(x_t, e₃, t, t − δ), t − δ); the step's gradient e' = (e₁ + 2e₂ + 2e₃ + e₄)/6.
                var combined = Buffer(Gradient, n);
                PredictionMath.MultiplyAdd(modelOutput, 1f / 6, accumulator, combined);
                gradient = combined;
                break;
        }

        Transfer(start, timestep, prevTimestep, gradient, prevSample);
    }

    /// <summary>One pseudo linear multistep evaluation (with its Euler/Heun start when the warm-up is skipped).</summary>
    private void StepPlms(in StepInput input, ReadOnlySpan<float> modelOutput, Span<float> prevSample)
    {
        var n = input.Sample.Length;
        var ratio = Schedule.NumTrainTimesteps / NumInferenceSteps!.Value;

        // 3. The step t → t − δ with δ = T // n (the reference's step size for every spacing; for linspace/trailing it
        // need not land on the next listed timestep, reproduced on purpose).
        double timestep = input.Timestep, prevTimestep = input.Timestep - ratio;
        ReadOnlySpan<float> sample = input.Sample;
        ReadOnlySpan<float> gradient = modelOutput;
        var combined = Buffer(Gradient, n);

        if (_counter == 1)
        {
            // 4a. Reference quirk (the counter == 1 case, reached only with skip_prk_steps): the network output at the
            // Euler estimate x_{t−δ} is not kept in the history; it is averaged with ε_t and the step t → t − δ is redone
            // from x_t (Heun). t is reconstructed as t − δ + δ, which for linspace/trailing is not exactly the first
            // timestep; reproduced on purpose.
            prevTimestep = input.Timestep;
            timestep = input.Timestep + ratio;
            PredictionMath.Combine(0.5f, modelOutput, 0.5f, HistoryAt(1, n), combined);
            gradient = combined;
            sample = Buffer(StartSample, n);
        }
        else if (_historyCount >= HistorySlots - 1 && Config.PredictionType != PredictionType.VPrediction)
        {
            // 4e. PLMS proper, the steady state after the warm-up: e = (55ε_t − 59ε_{t+δ} + 37ε_{t+2δ} − 9ε_{t+3δ})/24
            //     and the transfer φ with it, in one pass over memory that also stores ε_t in the history ring.
            var newest = Buffer(History + _historyCount % HistorySlots, n);
            _historyCount++;
            ElementWise.Apply(new LinearMultistepStep(TransferCoefficients(timestep, prevTimestep)), modelOutput, HistoryAt(2, n), HistoryAt(3, n), HistoryAt(4, n), sample, prevSample, newest);
            return;
        }
        else
        {
            Push(modelOutput);
            switch (Math.Min(_historyCount, HistorySlots))
            {
                case 1:
                    // 4b. First step without warm-up: Euler (DDIM) with ε_t; keep x_t for the Heun correction.
                    input.Sample.CopyTo(Buffer(StartSample, n));
                    break;
                case 2:
                    // 4c. Two-step Adams–Bashforth: (3ε_t − ε_{t+δ})/2.
                    PredictionMath.Combine(1.5f, HistoryAt(1, n), -0.5f, HistoryAt(2, n), combined);
                    break;
                case 3:
                    // 4d. Three-step: (23ε_t − 16ε_{t+δ} + 5ε_{t+2δ})/12.
                    ElementWise.Apply(default(ThreeStepGradient), HistoryAt(1, n), HistoryAt(2, n), HistoryAt(3, n), combined);
                    break;
                default:
                    // 4e. PLMS proper for v models (the others take the branch above): the gradient part, converted to ε in φ.
                    ElementWise.Apply(default(LinearMultistepGradient), HistoryAt(1, n), HistoryAt(2, n), HistoryAt(3, n), HistoryAt(4, n), combined);
                    break;
            }
            if (_historyCount > 1) gradient = combined;
        }

        Transfer(sample, timestep, prevTimestep, gradient, prevSample);
    }

    /// <summary>
    /// The transfer part φ(x_t, e, t, t') of eq. 9, written into <paramref name="destination"/>:
    /// x_{t'} = √(ᾱ_{t'}/ᾱ_t)·x_t − (ᾱ_{t'} − ᾱ_t)·e / (ᾱ_t·√(1−ᾱ_{t'}) + √(ᾱ_t(1−ᾱ_t)ᾱ_{t'})), with ᾱ_{t'} the final ᾱ for t' &lt; 0.
    /// </summary>
    /// <remarks>
    /// For v-prediction the gradient part is still in v and is converted here, e = √ᾱ_t·v + √(1−ᾱ_t)·x_t, with the
    /// step's start x_t and t even where e combines outputs taken at other samples and timesteps: this is what the
    /// reference does (its conversion sits in _get_prev_sample), reproduced on purpose to match it.
    /// </remarks>
    private void Transfer(ReadOnlySpan<float> sample, double timestep, double prevTimestep, ReadOnlySpan<float> gradient, Span<float> destination)
    {
        var t = TrainingIndex(timestep);
        if (Config.PredictionType == PredictionType.VPrediction)
        {
            // In place where the gradient part already is the scratch buffer; never into the history or the caller's output.
            var epsilon = Buffer(Gradient, sample.Length);
            PredictionMath.ToEpsilon(PredictionType.VPrediction, gradient, sample, MathF.Sqrt(_alphasCumprod[t]), MathF.Sqrt(1 - _alphasCumprod[t]), epsilon);
            gradient = epsilon;
        }

        ElementWise.Apply(TransferCoefficients(timestep, prevTimestep), sample, gradient, destination);
    }

    /// <summary>φ's coefficients for the step t → t', float32 as the reference forms them.</summary>
    private TransferStep TransferCoefficients(double timestep, double prevTimestep)
    {
        var alphaProd = _alphasCumprod[TrainingIndex(timestep)];
        var alphaProdPrev = prevTimestep >= 0 ? _alphasCumprod[TrainingIndex(prevTimestep)] : _finalAlphaCumprod;
        float betaProd = 1 - alphaProd, betaProdPrev = 1 - alphaProdPrev;
        var sampleCoeff = MathF.Sqrt(alphaProdPrev / alphaProd);
        var denominator = alphaProd * MathF.Sqrt(betaProdPrev) + MathF.Sqrt(alphaProd * betaProd * alphaProdPrev);
        return new TransferStep(sampleCoeff, alphaProdPrev - alphaProd, denominator);
    }

    /// <summary>φ as the reference's tensors round it: x_t·c_x − ((ᾱ_{t'} − ᾱ_t)·e)/d.</summary>
    private readonly record struct TransferStep(float SampleCoeff, float AlphaDifference, float Denominator) : ElementWise.IOperator2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T sample, T e) where T : struct, IFloatVector<T> => sample * SampleCoeff - e * AlphaDifference / Denominator;
    }

    /// <summary>Appends an output to the ring of the last four (the reference's ets = ets[-3:] + [output]).</summary>
    private void Push(ReadOnlySpan<float> modelOutput)
    {
        modelOutput.CopyTo(Buffer(History + _historyCount % HistorySlots, modelOutput.Length));
        _historyCount++;
    }

    /// <summary>The <paramref name="back"/>-th latest history entry: 1 is ets[-1], 4 is ets[-4].</summary>
    private Span<float> HistoryAt(int back, int n) => Buffer(History + (_historyCount - back) % HistorySlots, n);

    /// <summary>e = (1/24)·(((55·ε₁ − 59·ε₂) + 37·ε₃) − 9·ε₄), with the roundings of the reference's tensor operations.</summary>
    private readonly record struct LinearMultistepGradient : ElementWise.IOperator4
    {
        private const float OneOver24 = (float)(1.0 / 24);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T e1, T e2, T e3, T e4) where T : struct, IFloatVector<T> =>
            (e1 * 55f - e2 * 59f + e3 * 37f - e4 * 9f) * OneOver24;
    }

    /// <summary>e = ((23·ε₁ − 16·ε₂) + 5·ε₃)/12, with the roundings of the reference's tensor operations.</summary>
    private readonly record struct ThreeStepGradient : ElementWise.IOperator3
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T e1, T e2, T e3) where T : struct, IFloatVector<T> => (e1 * 23f - e2 * 16f + e3 * 5f) / 12f;
    }

    /// <summary>φ with the linear multistep gradient; the second result is ε_t itself, for the history.</summary>
    private readonly record struct LinearMultistepStep(TransferStep Transfer) : ElementWise.IOperator5To2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T Invoke<T>(T e1, T e2, T e3, T e4, T sample, out T newest) where T : struct, IFloatVector<T>
        {
            newest = e1;
            return Transfer.Invoke(sample, default(LinearMultistepGradient).Invoke(e1, e2, e3, e4));
        }
    }
}
