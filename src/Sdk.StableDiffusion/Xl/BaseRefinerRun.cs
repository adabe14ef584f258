using System.Diagnostics;
using System.Globalization;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Pipeline;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// SDXL's "ensemble of experts" in one call: the base runs the high-noise part of the schedule and returns latents
/// (<c>denoising_end = f</c>, <c>output_type="latent"</c>), the refiner continues from them (<c>denoising_start = f</c>),
/// both stages drawing from one generator, as the reference's example passes one generator to both pipelines. Both
/// stages are the one pipeline with its stages; only the request differs.
/// </summary>
internal sealed class BaseRefinerRun
{
    private readonly StableDiffusionPipeline _base;
    private readonly StableDiffusionPipeline _refiner;
    private readonly StableDiffusionPipeline.Plan _basePlan;
    private readonly StableDiffusionPipeline.Plan _refinerPlan;

    private BaseRefinerRun(StableDiffusionPipeline @base, StableDiffusionPipeline refiner, StableDiffusionPipeline.Plan basePlan, StableDiffusionPipeline.Plan refinerPlan)
    {
        _base = @base;
        _refiner = refiner;
        _basePlan = basePlan;
        _refinerPlan = refinerPlan;
    }

    /// <summary>Checks both stages' requests before any work.</summary>
    /// <exception cref="SamplingOptionException">The pipeline has no refiner, the fraction is outside (0, 1), or the request sets what the split decides.</exception>
    public static BaseRefinerRun Prepare(StableDiffusionPipeline pipeline, StableDiffusionRequest request)
    {
        var fraction = request.HighNoiseFraction!.Value;
        var text = fraction.ToString("R", CultureInfo.InvariantCulture);
        if (pipeline.Refiner is null)
            throw new SamplingOptionException(nameof(request.HighNoiseFraction), text, "null: this pipeline has no Refiner (StableDiffusionOptions.RefinerFolder, --refiner FOLDER)");
        if (!(fraction > 0 && fraction < 1))
            throw new SamplingOptionException(nameof(request.HighNoiseFraction), text, "a fraction of the schedule in (0, 1), e.g. 0.8");
        string? conflict = request.DenoisingStart is not null ? nameof(request.DenoisingStart)
            : request.DenoisingEnd is not null ? nameof(request.DenoisingEnd)
            : request.InitLatents is not null ? nameof(request.InitLatents)
            : request.InitImage is not null ? nameof(request.InitImage)
            : null;
        if (conflict is not null)
            throw new SamplingOptionException(conflict, "set", "null with HighNoiseFraction: the base runs text to image to the fraction and the refiner continues from its latents");

        var basePlan = pipeline.Prepare(request with { HighNoiseFraction = null, DenoisingEnd = fraction, LatentsOnly = true });
        var refiner = pipeline.RefinerPipeline;
        if (refiner.Model.LatentChannels != pipeline.Model.LatentChannels || refiner.Model.VaeScaleFactor != pipeline.Model.VaeScaleFactor)
            throw new ModelLoadException($"The refiner {refiner.Model.Folder} takes {refiner.Model.LatentChannels}-channel latents at 1/{refiner.Model.VaeScaleFactor} of the image size, the base {pipeline.Model.Folder} makes {pipeline.Model.LatentChannels}-channel latents at 1/{pipeline.Model.VaeScaleFactor}; they are not a pair.");
        var shape = basePlan.LatentShape;
        // The refiner's request: the same texts, size, steps, guidance and seed; its start latents are the base's
        // output (a placeholder of the right size until the base has run).
        var refinerPlan = refiner.Prepare(request with
        {
            HighNoiseFraction = null, DenoisingStart = fraction, InitLatents = new float[shape.Length],
            Width = shape.Width * pipeline.Model.VaeScaleFactor, Height = shape.Height * pipeline.Model.VaeScaleFactor,
        });
        var baseSteps = (basePlan.EndIndex ?? basePlan.Sampler.Timesteps.Count) - basePlan.StartIndex;
        var total = baseSteps + refinerPlan.Sampler.Timesteps.Count - refinerPlan.StartIndex;
        return new BaseRefinerRun(pipeline, refiner, basePlan with { ReportedTotalSteps = total },
            refinerPlan with { StepOffset = baseSteps, ReportedTotalSteps = total });
    }

    /// <summary>Runs the base, then the refiner on its latents, with one generator and one clock.</summary>
    public StableDiffusionResult Run(IProgress<GenerationProgress>? progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var noise = new TorchGaussianNoise(_basePlan.Request.Seed);
        var first = _base.Run(_basePlan, progress, cancellationToken, noise, clock);
        var second = _refiner.Run(_refinerPlan with { Request = _refinerPlan.Request with { InitLatents = first.Latents } }, progress, cancellationToken, noise, clock);
        return new StableDiffusionResult
        {
            Images = second.Images,
            ImageShape = second.ImageShape,
            Latents = second.Latents,
            InitialLatents = first.InitialLatents,
            LatentShape = second.LatentShape,
            SamplerName = first.SamplerName == second.SamplerName ? first.SamplerName : $"{first.SamplerName} → {second.SamplerName}",
            Timesteps = [.. first.Timesteps, .. second.Timesteps],
            UnetEvaluations = first.UnetEvaluations + second.UnetEvaluations,
            Elapsed = clock.Elapsed,
        };
    }
}
