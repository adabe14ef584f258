using System.Numerics.Tensors;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.Adaptive;

/// <summary>
/// The adaptive DPM-Solver (<see cref="AdaptiveDpmIntegrator"/>; Jolicoeur-Martineau et al. 2021, Lu et al. 2022) as
/// a sampler of the SDK's pipelines, on a network trained on a discrete variance-preserving schedule: the network sees
/// x/√(σ²+1) at the fractional timestep of σ, and its output becomes the σ-space denoiser D(x, σ) as k-diffusion's
/// <c>CompVisDenoiser</c> (ε) and <c>CompVisVDenoiser</c> (v) form it. It runs from the training schedule's σ_max
/// to its σ_min, choosing every step itself.
/// </summary>
public sealed class DpmAdaptiveSampler : IAdaptiveSampler
{
    private readonly double[] _trainingSigmas, _logSigmas;
    private readonly AdaptiveDpmIntegrator _integrator;
    private readonly List<double> _timesteps = [];
    private double _sigmaStart, _sigmaEnd;
    private bool _rangeSet;
    private double _evaluationSigma;
    private float[] _denoised = [];

    /// <summary>Creates the sampler for a model trained with <paramref name="config"/>'s schedule.</summary>
    /// <param name="config">The scheduler configuration (a private copy is kept): the schedule and the prediction type.</param>
    /// <param name="options">The solver's settings; null: k-diffusion's defaults.</param>
    /// <exception cref="SchedulerConfigException">The configuration is invalid.</exception>
    /// <exception cref="SamplingOptionException">A setting is out of its range.</exception>
    public DpmAdaptiveSampler(SchedulerConfig config, AdaptiveDpmSolverOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config.Clone();
        Schedule = NoiseSchedule.FromConfig(Config);
        _integrator = new AdaptiveDpmIntegrator(options);
        // σ_t from the float32 ᾱ the reference holds, ascending in t, and its logarithms for σ ↔ timestep.
        _trainingSigmas = new IntegerTimestepSigmas(Config).TrainingSigmas.ToArray();
        _logSigmas = Array.ConvertAll(_trainingSigmas, Math.Log);
    }

    /// <inheritdoc/>
    public string Name => SamplerNames.DpmAdaptive;

    /// <inheritdoc/>
    public SchedulerConfig Config { get; }

    /// <inheritdoc/>
    public NoiseSchedule Schedule { get; }

    /// <summary>The solver's settings.</summary>
    public AdaptiveDpmSolverOptions Options => _integrator.Options;

    /// <inheritdoc/>
    public IReadOnlyList<double> Timesteps => _timesteps;

    /// <inheritdoc/>
    public double InitNoiseSigma => _rangeSet ? _sigmaStart : _trainingSigmas[^1];

    /// <summary>1: each entry of <see cref="Timesteps"/> is one accepted step.</summary>
    public int Order => 1;

    /// <inheritdoc/>
    public double SigmaStart => _rangeSet ? _sigmaStart : _trainingSigmas[^1];

    /// <inheritdoc/>
    public double SigmaEnd => _rangeSet ? _sigmaEnd : _trainingSigmas[0];

    /// <inheritdoc/>
    public double Sigma => _integrator.Sigmas.Count > 0 ? _integrator.Sigma : SigmaStart;

    /// <inheritdoc/>
    public bool IsFinished => _integrator.IsFinished;

    /// <inheritdoc/>
    public int AcceptedSteps => _integrator.Accepted;

    /// <inheritdoc/>
    public int RejectedSteps => _integrator.Rejected;

    /// <summary>Network evaluations observed in this run.</summary>
    public int ModelEvaluations => _integrator.Evaluations;

    /// <summary>σ after every accepted step of this run, starting with <see cref="SigmaStart"/>.</summary>
    public IReadOnlyList<double> Sigmas => _integrator.Sigmas;

    /// <summary>Runs over the whole training range, σ_max to σ_min; the count is checked but not used (the tolerances choose the steps).</summary>
    public void SetTimesteps(int numInferenceSteps)
    {
        if (numInferenceSteps < 1 || numInferenceSteps > Schedule.NumTrainTimesteps)
            throw new SchedulerConfigException("num_inference_steps", numInferenceSteps.ToString(System.Globalization.CultureInfo.InvariantCulture),
                $"an integer from 1 to num_train_timesteps = {Schedule.NumTrainTimesteps}");
        SetRange(_trainingSigmas[^1], _trainingSigmas[0]);
    }

    /// <summary>Runs from the σ of the list's first timestep to the σ of its last (at least two, descending).</summary>
    public void SetTimesteps(IReadOnlyList<double> timesteps)
    {
        ArgumentNullException.ThrowIfNull(timesteps);
        if (timesteps.Count < 2 || !(timesteps[0] > timesteps[^1]) || timesteps.Any(t => !(t >= 0 && t <= Schedule.NumTrainTimesteps - 1)))
            throw new SchedulerConfigException("timesteps", $"[{string.Join(", ", timesteps)}]",
                $"a descending list of at least two timesteps in [0, {Schedule.NumTrainTimesteps - 1}]: the adaptive sampler runs from the first one's σ to the last one's");
        SetRange(SigmaAt(timesteps[0]), SigmaAt(timesteps[^1]));
    }

    private void SetRange(double start, double end)
    {
        (_sigmaStart, _sigmaEnd, _rangeSet) = (start, end, true);
        _timesteps.Clear();
        _timesteps.Add(TimestepOf(start));
    }

    /// <summary>Only 0: the adaptive sampler has no fixed schedule to start part-way into.</summary>
    public void SetBeginIndex(int index)
    {
        if (index != 0)
            throw new SamplerStateException($"The '{Name}' sampler chooses its own steps, so there is no step {index} to begin at; " +
                                            "use a fixed-schedule sampler for image-to-image, or lower its σ range with SetTimesteps(list).");
    }

    /// <summary>Not how this sampler advances: it raises <see cref="SamplerStateException"/>.</summary>
    public bool Step(in StepInput input, in StepOutput output, INoiseSource noise) =>
        throw new SamplerStateException($"The '{Name}' sampler chooses its own steps: drive it through {nameof(IAdaptiveSampler)} " +
                                        $"({nameof(Begin)}, {nameof(NextEvaluation)}, {nameof(Observe)}), as SamplingLoop and the pipelines do.");

    /// <summary>The network sees x/√(σ²+1), σ of <paramref name="timestep"/> (log-linear between training timesteps).</summary>
    public void ScaleModelInput(ReadOnlySpan<float> sample, double timestep, Span<float> destination)
    {
        var sigma = SigmaAt(timestep);
        TensorPrimitives.Divide(sample, (float)Math.Sqrt(sigma * sigma + 1), destination);
    }

    /// <summary>The forward process in σ-space: x = x₀ + σ_t·ε per item.</summary>
    public void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination)
    {
        if (timesteps.IsEmpty || original.Length != noise.Length || original.Length != destination.Length || original.Length % timesteps.Length != 0)
            throw new ArgumentException($"AddNoise needs equal lengths for the sample, noise and destination, divisible by the {timesteps.Length} timesteps (one per item).");
        var itemLength = original.Length / timesteps.Length;
        for (var b = 0; b < timesteps.Length; b++)
        {
            var range = new Range(b * itemLength, (b + 1) * itemLength);
            TensorPrimitives.MultiplyAdd(noise[range], (float)SigmaAt(timesteps[b]), original[range], destination[range]);
        }
    }

    /// <inheritdoc/>
    public void Begin(ReadOnlySpan<float> sample, int batchSize)
    {
        if (!_rangeSet) throw new SamplerStateException($"The '{Name}' sampler's range is not set: call SetTimesteps first.");
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (sample.Length % batchSize != 0) throw new ArgumentException($"{sample.Length} values cannot be split into {batchSize} items.", nameof(sample));
        _integrator.Begin(sample, _sigmaStart, _sigmaEnd);
        _timesteps.Clear();
        _timesteps.Add(TimestepOf(_sigmaStart));
    }

    /// <inheritdoc/>
    public double NextEvaluation(Span<float> modelInput)
    {
        var sigma = _integrator.Propose(out var point);
        if (modelInput.Length != point.Length) throw new ArgumentException($"The model input has {modelInput.Length} values; the sample has {point.Length}.", nameof(modelInput));
        _evaluationSigma = sigma;
        TensorPrimitives.Divide(point, (float)Math.Sqrt(sigma * sigma + 1), modelInput);
        return TimestepOf(sigma);
    }

    /// <inheritdoc/>
    public AdaptiveStepResult Observe(ReadOnlySpan<float> modelOutput, Span<float> sample, INoiseSource noise)
    {
        var denoised = Denoised(modelOutput);
        var result = _integrator.Observe(denoised, noise);
        if (result == AdaptiveStepResult.Accepted)
        {
            _integrator.Sample.CopyTo(sample);
            if (!_integrator.IsFinished) _timesteps.Add(TimestepOf(_integrator.Sigma));
        }
        return result;
    }

    // D(x, σ) at the proposed point from the network output, as k-diffusion's CompVisDenoiser (ε: x − σ·ε) and
    // CompVisVDenoiser (v: x/(σ²+1) − σ/√(σ²+1)·v) form it; an x₀ prediction is D itself.
    private ReadOnlySpan<float> Denoised(ReadOnlySpan<float> modelOutput)
    {
        var point = _integrator.ProposedPoint;
        if (modelOutput.Length != point.Length) throw new ArgumentException($"The model output has {modelOutput.Length} values; the sample has {point.Length}.", nameof(modelOutput));
        if (_denoised.Length != point.Length) _denoised = new float[point.Length];
        var sigma = _evaluationSigma;
        switch (Config.PredictionType)
        {
            case PredictionType.Epsilon:
                PredictionMath.Combine(1f, point, (float)-sigma, modelOutput, _denoised);
                break;
            case PredictionType.VPrediction:
                PredictionMath.Combine((float)(1 / (sigma * sigma + 1)), point, (float)(-sigma / Math.Sqrt(sigma * sigma + 1)), modelOutput, _denoised);
                break;
            default:
                modelOutput.CopyTo(_denoised);
                break;
        }
        return _denoised;
    }

    private double SigmaAt(double timestep)
    {
        // k-diffusion's t_to_sigma: log σ interpolated linearly between the neighbouring training timesteps.
        var t = Math.Clamp(timestep, 0, _logSigmas.Length - 1);
        var low = (int)Math.Floor(t);
        var high = Math.Min(low + 1, _logSigmas.Length - 1);
        var w = t - low;
        return Math.Exp((1 - w) * _logSigmas[low] + w * _logSigmas[high]);
    }

    private double TimestepOf(double sigma) => SigmaMath.SigmaToTimestep(sigma, _logSigmas);
}
