using System.Diagnostics;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Diffusion.Sdk.Pipeline;

/// <summary>
/// Generates samples from a model with any registered sampler: builds the sampler and its wrappers from the request,
/// draws the seeded initial noise, and runs the loop scale-input → model (guided) → step. Thread-safe: concurrent
/// calls each get their own sampler, denoiser and buffers, and share only the (thread-safe) model.
/// </summary>
public sealed class DiffusionPipeline(IDiffusionModel model, ISamplerFactory samplers, ILogger<DiffusionPipeline>? logger = null)
{
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;

    /// <summary>The model this pipeline samples from.</summary>
    public IDiffusionModel Model { get; } = model ?? throw new ArgumentNullException(nameof(model));

    /// <summary>Generates one batch.</summary>
    /// <param name="request">What to generate.</param>
    /// <param name="progress">Receives the step index, timestep and elapsed time after every step (an ensemble's members' steps one after another).</param>
    /// <param name="cancellationToken">Checked between steps.</param>
    /// <exception cref="SamplingOptionException">A sampling option is invalid (the message names it).</exception>
    /// <exception cref="SchedulerConfigException">The model's configuration with the request's overrides is invalid (the message names the key).</exception>
    /// <exception cref="SamplingOptionException">The request does not fit the model (labels, shape, start image) or this machine's memory (batch size); the message names the property.</exception>
    /// <exception cref="NonFiniteValueException">A NaN or infinity appeared.</exception>
    /// <exception cref="ModelOutOfMemoryException">The model ran out of memory even for half the batch.</exception>
    public Task<GenerationResult> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var runs = PrepareAll(request); // argument errors surface before any work starts
        return Task.Run(() => RunAll(runs, request, progress, cancellationToken), cancellationToken);
    }

    /// <summary>Generates one batch on the calling thread.</summary>
    /// <inheritdoc cref="GenerateAsync" path="/param"/>
    public GenerationResult Generate(GenerationRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return RunAll(PrepareAll(request), request, progress, cancellationToken);
    }

    private sealed record PreparedRun(ISampler Sampler, TensorShape Shape, long[] Labels, float[] Hidden, int StartIndex, Func<IDenoiser, IDenoiser> Guide)
    {
        public int? Steps => Sampler is IAdaptiveSampler ? null : Sampler.Timesteps.Count - StartIndex;
    }

    // One run, or one per ensemble member, all prepared (and so checked) before the first model call.
    private PreparedRun[] PrepareAll(GenerationRequest request)
    {
        if (request.Ensemble is not { } ensemble) return [Prepare(request, request.Sampling)];
        var runs = ensemble.Members.Select(m => Prepare(request, request.Sampling.WithSampler(m.Sampler))).ToArray();
        for (var k = 1; k < runs.Length; k++)
            if (runs[k].Shape != runs[0].Shape)
                throw Invalid($"{nameof(request.Ensemble)}[{k}]", runs[k].Shape, $"the shape {runs[0].Shape} of the first member: members' latents are averaged element by element");
        return runs;
    }

    // A single run, or the members of an ensemble one after another, then their weighted mean.
    private GenerationResult RunAll(PreparedRun[] runs, GenerationRequest request, IProgress<GenerationProgress>? progress, CancellationToken cancellationToken)
    {
        if (request.Ensemble is not { } ensemble) return Run(runs[0], request, progress, cancellationToken, 0, 0, runs[0].Steps);
        var clock = Stopwatch.StartNew();
        // An adaptive member chooses its own steps, so then the ensemble's total is unknown too.
        int? total = runs.Any(r => r.Steps is null) ? null : runs.Sum(r => r.Steps!.Value);
        var members = new GenerationResult[runs.Length];
        for (int k = 0, offset = 0, evaluations = 0; k < runs.Length; offset += members[k].Timesteps.Count, evaluations += members[k].ModelEvaluations, k++)
            members[k] = Run(runs[k], request, progress is null ? null : new EnsembleClock(progress, clock), cancellationToken, offset, evaluations, total);
        var latents = new float[members[0].Latents.Length];
        ensemble.Combine(members.Select(m => m.Latents).ToArray(), latents);
        // The mean of finite members can still overflow float (or pass the range a converging run stays within).
        if (TensorChecks.FirstOutOfRange(latents) is var index and >= 0)
            throw new NonFiniteValueException(members.Sum(m => m.Timesteps.Count) - 1, members[^1].Timesteps[^1], "ensemble mean", index, latents[index]);
        return new GenerationResult
        {
            Latents = latents,
            Shape = members[0].Shape,
            SamplerName = $"ensemble({string.Join(", ", members.Select((m, k) => $"{m.SamplerName}:{ensemble.Weights[k].ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)}"))})",
            Timesteps = members.SelectMany(m => m.Timesteps).ToArray(),
            ModelEvaluations = members.Sum(m => m.ModelEvaluations),
            RejectedSteps = members.Sum(m => m.RejectedSteps),
            Elapsed = clock.Elapsed,
            Statistics = request.CollectStatistics ? members.SelectMany(m => m.Statistics ?? []).ToArray() : null,
            Members = members,
        };
    }

    private PreparedRun Prepare(GenerationRequest request, SamplingOptions options)
    {
        var info = Model.Info;
        if (request.BatchSize < 1) throw Invalid(nameof(request.BatchSize), request.BatchSize, "an integer >= 1");
        var height = info.Height ?? request.Height ?? throw Invalid(nameof(request.Height), null, $"the sample height: the model {info.Source} accepts any height");
        var width = info.Width ?? request.Width ?? throw Invalid(nameof(request.Width), null, $"the sample width: the model {info.Source} accepts any width");
        if (info.Height is { } h && request.Height is { } rh && rh != h) throw Invalid(nameof(request.Height), rh, $"{h} (the model {info.Source} is fixed to it) or null");
        if (info.Width is { } w && request.Width is { } rw && rw != w) throw Invalid(nameof(request.Width), rw, $"{w} (the model {info.Source} is fixed to it) or null");
        if (height < 1) throw Invalid(nameof(request.Height), height, "an integer >= 1");
        if (width < 1) throw Invalid(nameof(request.Width), width, "an integer >= 1");
        var shape = BatchMemory.Check(request.BatchSize, info.Channels, height, width, guided: ClassifierFreeGuidance.Applies(options.GuidanceScale) || options.CfgPlusPlus);

        // One path: the model's own scheduler configuration plus the request's overrides, straight to the factory.
        var sampler = samplers.Create(options, Model.SchedulerConfig);
        if (options.CfgPlusPlus) CfgPlusPlusSupport.Check(sampler);
        Guard(sampler, "setting its timesteps", () => sampler.SetTimesteps(options.Steps));

        if (!(request.Strength > 0 && request.Strength <= 1))
            throw new SamplingOptionException(nameof(request.Strength), request.Strength.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "a number in (0, 1]");
        var startIndex = 0;
        if (request.InitImage is { } init)
        {
            if (init.Length != shape.ItemLength && init.Length != shape.Length)
                throw Invalid(nameof(request.InitImage), $"{init.Length} values", $"{shape.ItemLength} values (one item of {shape}) or {shape.Length} (the whole batch)");
            startIndex = ImageToImageStart.Apply(sampler, options.Steps, request.Strength, nameof(request.InitImage));
        }

        return new PreparedRun(sampler, shape, Labels(request, info, shape.Batch), Hidden(request, info, shape.Batch), startIndex, Guidance(options, request));
    }

    private static long[] Labels(GenerationRequest request, ModelInfo info, int batch)
    {
        var given = request.ClassLabels?.ToArray() ?? (request.ClassLabel is { } one ? Enumerable.Repeat(one, batch).ToArray() : null);
        if (!info.HasClassLabels)
        {
            if (given is not null) throw Invalid(given.Length == batch && request.ClassLabels is null ? nameof(request.ClassLabel) : nameof(request.ClassLabels), Describe(given), $"null: the model {info.Source} takes no class labels");
            return [];
        }
        if (given is null)
        {
            // A class-conditional model without a label samples unconditionally, when it has a label for that.
            var unconditional = info.UnconditionalLabel
                ?? throw Invalid(nameof(request.ClassLabel), null, $"a class label (or ClassLabels): the model {info.Source} is class-conditional and has no unconditional label");
            return Enumerable.Repeat(unconditional, batch).ToArray();
        }
        if (given.Length != batch) throw Invalid(nameof(request.ClassLabels), $"{given.Length} labels", $"one label per item of the batch of {batch}");
        var labelName = request.ClassLabels is null ? nameof(request.ClassLabel) : nameof(request.ClassLabels);
        foreach (var label in given)
            if (label < 0 || (info.NumClasses is { } n && label >= n && label != info.UnconditionalLabel))
                throw Invalid(labelName, label, $"a class of the model {info.Source}: " + (info.NumClasses is { } classes ? $"0 to {classes - 1}" : "an integer >= 0") +
                                                (info.UnconditionalLabel is { } u ? $", or {u} (unconditional)" : ""));
        return given;
    }

    private static float[] Hidden(GenerationRequest request, ModelInfo info, int batch)
    {
        if (info.EncoderHiddenStatesLength is not { } perItem)
        {
            if (request.EncoderHiddenStates is not null) throw Invalid(nameof(request.EncoderHiddenStates), $"{request.EncoderHiddenStates.Length} values", $"null: the model {info.Source} takes no encoder hidden states");
            return [];
        }
        var given = request.EncoderHiddenStates ?? throw Invalid(nameof(request.EncoderHiddenStates), null, $"{perItem} values per item: the model {info.Source} is text-conditioned");
        if (given.Length == (long)batch * perItem) return given;
        if (given.Length != perItem) throw Invalid(nameof(request.EncoderHiddenStates), $"{given.Length} values", $"{perItem} values (one item) or {perItem} × the batch");
        var all = new float[batch * perItem];
        for (var b = 0; b < batch; b++) given.CopyTo(all, b * perItem);
        return all;
    }

    // The loop. An ensemble's members report their steps after the earlier members' (stepOffset) out of all members' (total).
    private GenerationResult Run(PreparedRun run, GenerationRequest request, IProgress<GenerationProgress>? progress, CancellationToken cancellationToken,
        int stepOffset, int evaluationOffset, int? total)
    {
        var (sampler, shape, labels, hidden, startIndex, _) = run;
        var clock = Stopwatch.StartNew();
        var n = shape.Length;
        var noise = new TorchGaussianNoise(request.Seed);

        // 1. x_T: seeded noise at the sampler's initial scale, or the start image noised to the first timestep.
        var x = new float[n];
        noise.NextGaussian(x);
        if (request.InitImage is { } init)
        {
            var original = init.Length == n ? init : Enumerable.Range(0, shape.Batch).SelectMany(_ => init).ToArray();
            var start = Enumerable.Repeat(sampler.Timesteps[startIndex], shape.Batch).ToArray();
            sampler.AddNoise(original, x.ToArray(), start, x);
        }
        else if (sampler.InitNoiseSigma != 1)
        {
            System.Numerics.Tensors.TensorPrimitives.Multiply(x, (float)sampler.InitNoiseSigma, x);
        }

        // 2. The model, guided when asked, halving its batch once if memory runs out. The run's denoiser holds native
        //    buffers (an ONNX denoiser: pinned tensors and an IO binding), released when the run ends.
        var halving = new HalvingDenoiser(Model.CreateDenoiser(), batch => _logger.LogWarning(
            "The model ran out of memory for a batch of {Batch}; retrying with half the batch at a time.", batch));
        using var denoiser = run.Guide(halving); // owns the chain down to the model's denoiser

        var statistics = request.CollectStatistics ? new List<StepStatistics>() : null;

        // 3. The loop, shared with the other pipelines.
        x = new SamplingLoop
        {
            Sampler = sampler, Denoiser = denoiser, StartIndex = startIndex,
            OnStep = request.OnStep, Progress = progress, Statistics = statistics, Clock = clock,
            StepOffset = stepOffset, EvaluationOffset = evaluationOffset, ReportedTotalSteps = total, ReportsNoTotal = total is null,
        }.Run(x, shape, noise, labels, hidden, cancellationToken);

        return new GenerationResult
        {
            Latents = x,
            Shape = shape,
            SamplerName = sampler.Name,
            Timesteps = sampler.Timesteps.Skip(startIndex).ToArray(),
            ModelEvaluations = halving.Evaluations,
            RejectedSteps = (sampler as IAdaptiveSampler)?.RejectedSteps ?? 0,
            Elapsed = clock.Elapsed,
            Statistics = statistics,
        };
    }

    // How the run's denoiser is guided, checked before any work starts.
    private Func<IDenoiser, IDenoiser> Guidance(SamplingOptions options, GenerationRequest request)
    {
        // No guidance unless asked for (a scale above 1): a model without a conditioning input has nothing to guide toward.
        // CFG++ guides at every λ in [0, 1]: its steps need the unconditional output even where plain guidance would not run.
        if (!ClassifierFreeGuidance.Applies(options.GuidanceScale) && !options.CfgPlusPlus) return denoiser => denoiser;
        var scale = options.GuidanceScale
            ?? throw new SamplingOptionException(nameof(SamplingOptions.GuidanceScale), null, "CFG++'s λ, a number in [0, 1] (about 0.6 is usual)");
        var keep = options.CfgPlusPlus;
        var info = Model.Info;
        if (info.HasClassLabels)
        {
            var unconditional = info.UnconditionalLabel
                ?? throw new SamplingOptionException(nameof(SamplingOptions.GuidanceScale), scale.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    $"1: the model {info.Source} has no unconditional label, which classifier-free guidance needs");
            return denoiser => new ClassifierFreeGuidance(denoiser, scale, options.GuidanceRescale, unconditional) { KeepsUnconditionalOutput = keep };
        }
        if (info.EncoderHiddenStatesLength is not null)
        {
            var unconditional = request.UnconditionalHiddenStates
                ?? throw Invalid(nameof(request.UnconditionalHiddenStates), null, "the empty prompt's embeddings, which guidance on a text-conditioned model needs");
            return denoiser => new ClassifierFreeGuidance(denoiser, scale, options.GuidanceRescale, unconditionalHiddenStates: unconditional) { KeepsUnconditionalOutput = keep };
        }
        throw new SamplingOptionException(nameof(SamplingOptions.GuidanceScale), scale.ToString(System.Globalization.CultureInfo.InvariantCulture),
            $"1: the model {info.Source} is unconditional, so there is nothing to guide toward");
    }

    // A sampler's own failure (a plugin's bug) becomes one SDK error naming it; SDK errors pass through.
    private static void Guard(ISampler sampler, string doing, Action action)
    {
        try
        {
            action();
        }
        catch (Exception e) when (SamplerFailedException.IsForeign(e))
        {
            throw new SamplerFailedException(sampler.Name, SamplerFailedException.SourceOf(e, sampler), doing, e);
        }
    }

    // Progress of an ensemble's member, its elapsed time counted from the ensemble's start.
    private sealed class EnsembleClock(IProgress<GenerationProgress> inner, Stopwatch clock) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => inner.Report(value with { Elapsed = clock.Elapsed });
    }

    private static SamplingOptionException Invalid(string property, object? value, string allowed) =>
        new(property, value is null ? null : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture), allowed);

    private static string Describe(long[] labels) => labels.Length <= 4 ? $"[{string.Join(", ", labels)}]" : $"[{string.Join(", ", labels.Take(4))}, …] ({labels.Length} labels)";
}
