using System.Diagnostics;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Pipeline;

/// <summary>
/// The denoising loop every pipeline shares: for each timestep from <see cref="StartIndex"/> on, scale the input,
/// predict (the denoiser may be guided), check for NaN and infinity, step, then report. An
/// <see cref="IAdaptiveSampler"/> is driven by ask and tell instead: it proposes each evaluation, and accepts or
/// rejects each step. It honours cancellation between evaluations and allocates its three buffers once per run.
/// One instance describes one run.
/// </summary>
public sealed class SamplingLoop
{
    /// <summary>The sampler, its timesteps already set.</summary>
    public required ISampler Sampler { get; init; }

    /// <summary>The (guided, retrying) denoiser.</summary>
    public required IDenoiser Denoiser { get; init; }

    /// <summary>The index in <see cref="ISampler.Timesteps"/> of the first step (image-to-image starts part-way).</summary>
    public int StartIndex { get; init; }

    /// <summary>
    /// The index in <see cref="ISampler.Timesteps"/> to stop before (exclusive), or null to run to the end: an
    /// ensemble of experts' first model stops early and hands its latents to the next (SDXL's <c>denoising_end</c>).
    /// </summary>
    public int? EndIndex { get; init; }

    private int End => Math.Min(EndIndex ?? int.MaxValue, Sampler.Timesteps.Count);

    /// <summary>Receives the latents after every step.</summary>
    public StepCallback? OnStep { get; init; }

    /// <summary>
    /// The run's conditioning, built once before the loop (unconditional rows included under guidance); when set, it
    /// replaces the <c>labels</c> and <c>hidden</c> arguments of <see cref="Run"/>.
    /// </summary>
    public ModelConditioning? Conditioning { get; init; }

    /// <summary>A latent stage that adjusts the sample after every step (inpainting's blend of the known region), or null.</summary>
    public ILatentStage? LatentStage { get; init; }

    /// <summary>Receives the step count, timestep and elapsed time after every step.</summary>
    public IProgress<GenerationProgress>? Progress { get; init; }

    /// <summary>When set, receives per-step statistics of the model input and output.</summary>
    public List<StepStatistics>? Statistics { get; init; }

    /// <summary>The run's clock, for <see cref="GenerationProgress.Elapsed"/>; null: started when the loop starts.</summary>
    public Stopwatch? Clock { get; init; }

    /// <summary>Steps reported before this loop's first (an ensemble's earlier members'); its steps are numbered after them.</summary>
    public int StepOffset { get; init; }

    /// <summary>The step total that progress and callbacks report (null: <see cref="TotalSteps"/>; an ensemble: all members' steps).</summary>
    public int? ReportedTotalSteps { get; init; }

    /// <summary>Report no step total even for a fixed schedule (an ensemble with an adaptive member, whose total is unknown).</summary>
    public bool ReportsNoTotal { get; init; }

    /// <summary>Evaluations reported before this loop's first (an ensemble's earlier members').</summary>
    public int EvaluationOffset { get; init; }

    /// <summary>An adaptive sampler's cap on network evaluations: past it the run stops with <see cref="SamplerFailedException"/> (default 10 000).</summary>
    public int MaxModelEvaluations { get; init; } = 10_000;

    /// <summary>Steps this loop runs; null for an adaptive sampler, which chooses its own.</summary>
    public int? TotalSteps => Sampler is IAdaptiveSampler ? null : End - StartIndex;

    /// <summary>Steps taken by the last <see cref="Run"/> (an adaptive sampler's: accepted steps).</summary>
    public int StepsTaken { get; private set; }

    /// <summary>Network evaluations made by the last <see cref="Run"/>.</summary>
    public int ModelEvaluations { get; private set; }

    /// <summary>Runs the loop from <paramref name="x"/> (x_T, or the noised start image) and returns the final latents.</summary>
    /// <param name="x">The initial latents; the array may be reused for the result.</param>
    /// <param name="shape">Their shape.</param>
    /// <param name="noise">The run's generator, for stochastic samplers' draws inside <c>Step</c>.</param>
    /// <param name="labels">Class labels per item, or empty.</param>
    /// <param name="hidden">Encoder hidden states per item, or empty.</param>
    /// <param name="cancellationToken">Checked before every step, and passed to the denoiser (an ONNX run stops part-way).</param>
    /// <exception cref="NonFiniteValueException">A NaN, an infinity or an overflowing value appeared in the model output or the sample.</exception>
    /// <exception cref="SamplerFailedException">The sampler itself failed (a plugin's bug), named with what it was doing.</exception>
    public float[] Run(float[] x, TensorShape shape, INoiseSource noise, ReadOnlySpan<long> labels, ReadOnlySpan<float> hidden, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(noise);
        if (Sampler is IAdaptiveSampler adaptive) return RunAdaptive(adaptive, x, shape, noise, labels, hidden, cancellationToken);
        var clock = Clock ?? Stopwatch.StartNew();
        var n = shape.Length;
        var modelInput = new float[n];
        var modelOutput = new float[n];
        var next = new float[n];
        var sampler = Sampler;
        var total = ReportsNoTotal ? null : ReportedTotalSteps ?? TotalSteps;
        var sigmas = (sampler as ISigmaSampler)?.Sigmas;
        var unconditional = UnconditionalSource();
        StepsTaken = ModelEvaluations = 0;

        // One direction: the sampler never sees the model and the model never sees the spacing.
        var end = End;
        for (var k = StartIndex; k < end; k++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var step = k - StartIndex;
            var t = sampler.Timesteps[k];
            // Where the network sees the sample itself, it is fed as it is: no call, no copy.
            var input = modelInput;
            try
            {
                if (sampler.ScalesModelInput(t)) sampler.ScaleModelInput(x, t, modelInput);
                else input = x;
            }
            catch (Exception e) when (SamplerFailedException.IsForeign(e))
            {
                throw new SamplerFailedException(sampler.Name, SamplerFailedException.SourceOf(e, sampler), $"scaling the model input at step {step}", e);
            }
            Denoiser.Predict(Input(input, shape, t, labels, hidden), modelOutput, cancellationToken);
            ModelEvaluations++;
            Check(modelOutput, step, t, "model output");
            try
            {
                var stepInput = new StepInput(modelOutput, t, x, shape.Batch);
                if (unconditional is not null) stepInput = stepInput with { UnconditionalOutput = unconditional.UnconditionalOutput };
                sampler.Step(stepInput, new StepOutput(next), noise);
            }
            catch (Exception e) when (SamplerFailedException.IsForeign(e))
            {
                // A sampler's own failure (a plugin's bug) becomes one SDK error naming it; SDK errors pass through.
                throw new SamplerFailedException(sampler.Name, SamplerFailedException.SourceOf(e, sampler), $"taking step {step} (timestep {t:0.###})", e);
            }
            (x, next) = (next, x);
            LatentStage?.AfterStep(k, x, shape);
            Check(x, step, t, "sample");

            StepsTaken++;
            double? sigma = sigmas is not null && k + 1 < sigmas.Count ? sigmas[k + 1] : null;
            // The step wrote the next sample elsewhere, so an unscaled input (the previous sample) is still intact here.
            Statistics?.Add(new StepStatistics(step, t, TensorChecks.Statistics(input), TensorChecks.Statistics(modelOutput)));
            OnStep?.Invoke(new StepInfo(StepOffset + step, total, t) { Sigma = sigma }, x);
            Progress?.Report(new GenerationProgress(StepOffset + step + 1, total, t, clock.Elapsed)
            {
                Sigma = sigma, ModelEvaluations = EvaluationOffset + ModelEvaluations,
                Fraction = total is > 0 ? (double)(StepOffset + step + 1) / total.Value : 1,
            });
        }
        return x;
    }

    // Ask and tell: the sampler proposes every evaluation and decides, after each step's last one, to accept or reject.
    private float[] RunAdaptive(IAdaptiveSampler sampler, float[] x, TensorShape shape, INoiseSource noise, ReadOnlySpan<long> labels, ReadOnlySpan<float> hidden,
        CancellationToken cancellationToken)
    {
        var clock = Clock ?? Stopwatch.StartNew();
        var n = shape.Length;
        var modelInput = new float[n];
        var modelOutput = new float[n];
        StepsTaken = ModelEvaluations = 0;
        UnconditionalSource(); // an adaptive sampler takes no CFG++ steps: refused here when the guidance keeps them
        Guard(sampler, "beginning its run", () => sampler.Begin(x, shape.Batch));
        var logRange = Math.Log(sampler.SigmaStart / sampler.SigmaEnd);
        while (!Guarded(sampler, "checking whether it is finished", () => sampler.IsFinished))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (ModelEvaluations >= MaxModelEvaluations)
                throw new SamplerFailedException(sampler.Name, SamplerFailedException.SourceOf(new InvalidOperationException(), sampler), $"running at σ = {sampler.Sigma:G4}",
                    new InvalidOperationException($"it did not reach σ = {sampler.SigmaEnd:G4} within {MaxModelEvaluations} model evaluations; loosen its tolerances (rtol, atol) or raise SamplingLoop.MaxModelEvaluations"));
            double t;
            try
            {
                t = sampler.NextEvaluation(modelInput);
            }
            catch (Exception e) when (SamplerFailedException.IsForeign(e))
            {
                throw new SamplerFailedException(sampler.Name, SamplerFailedException.SourceOf(e, sampler), $"proposing evaluation {ModelEvaluations}", e);
            }
            Denoiser.Predict(Input(modelInput, shape, t, labels, hidden), modelOutput, cancellationToken);
            Check(modelOutput, StepsTaken, t, "model output");
            Statistics?.Add(new StepStatistics(ModelEvaluations, t, TensorChecks.Statistics(modelInput), TensorChecks.Statistics(modelOutput)));
            ModelEvaluations++;
            AdaptiveStepResult result;
            try
            {
                result = sampler.Observe(modelOutput, x, noise);
            }
            catch (Exception e) when (SamplerFailedException.IsForeign(e))
            {
                throw new SamplerFailedException(sampler.Name, SamplerFailedException.SourceOf(e, sampler), $"observing evaluation {ModelEvaluations - 1} (timestep {t:0.###})", e);
            }
            if (result == AdaptiveStepResult.Pending) continue;
            var sigma = sampler.Sigma;
            if (result == AdaptiveStepResult.Accepted)
            {
                Check(x, StepsTaken, t, "sample");
                OnStep?.Invoke(new StepInfo(StepOffset + StepsTaken, null, t) { Sigma = sigma }, x);
                StepsTaken++;
            }
            Progress?.Report(new GenerationProgress(StepOffset + StepsTaken, null, t, clock.Elapsed)
            {
                Sigma = sigma, ModelEvaluations = EvaluationOffset + ModelEvaluations, RejectedSteps = sampler.RejectedSteps,
                Fraction = Math.Clamp(Math.Log(sampler.SigmaStart / sigma) / logRange, 0, 1),
            });
        }
        return x;
    }

    // CFG++, decided once per run: a guidance stage that keeps its unconditional output hands it to every step, and
    // then the sampler must take CFG++ steps (checked here too, for loops built without a pipeline). Other runs pay nothing.
    private IUnconditionalOutputSource? UnconditionalSource()
    {
        if (Denoiser is not IUnconditionalOutputSource { KeepsUnconditionalOutput: true } source) return null;
        CfgPlusPlusSupport.Check(Sampler);
        return source;
    }

    // The conditioning's conditional rows when the run has one (guidance reads the unconditional rows before them).
    private DenoiserInput Input(ReadOnlySpan<float> sample, TensorShape shape, double t, ReadOnlySpan<long> labels, ReadOnlySpan<float> hidden) =>
        Conditioning is { } conditioning
            ? new DenoiserInput(sample, shape, t, conditioning, conditioning.ConditionalRowStart)
            : new DenoiserInput(sample, shape, t, labels, hidden);

    private static void Guard(ISampler sampler, string doing, Action action) => Guarded(sampler, doing, () => { action(); return 0; });

    private static T Guarded<T>(ISampler sampler, string doing, Func<T> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (SamplerFailedException.IsForeign(e))
        {
            throw new SamplerFailedException(sampler.Name, SamplerFailedException.SourceOf(e, sampler), doing, e);
        }
    }

    private static void Check(ReadOnlySpan<float> tensor, int step, double timestep, string name)
    {
        var index = TensorChecks.FirstOutOfRange(tensor);
        if (index >= 0) throw new NonFiniteValueException(step, timestep, name, index, tensor[index]);
    }
}
