using System.Diagnostics;
using System.Globalization;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// Text to image and image to image with a <see cref="StableDiffusionModel"/>, computed as the reference's
/// <c>StableDiffusionPipeline</c> and <c>StableDiffusionImg2ImgPipeline</c> compute them: the same tokens, the same
/// guidance, the same random draws in the same order from one seeded generator, any registered sampler (by default
/// the model's own), the same VAE scaling and post-processing. Thread-safe: concurrent calls share only the model's
/// sessions; each gets its own sampler, denoiser, generator and buffers.
/// </summary>
public sealed class StableDiffusionPipeline(StableDiffusionModel model, ISamplerFactory samplers, ILogger<StableDiffusionPipeline>? logger = null)
{
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;
    private readonly ISamplerFactory _samplers = samplers ?? throw new ArgumentNullException(nameof(samplers));

    /// <summary>The model this pipeline runs.</summary>
    public StableDiffusionModel Model { get; } = model ?? throw new ArgumentNullException(nameof(model));

    /// <summary>
    /// An SDXL refiner for base → refiner runs (<see cref="StableDiffusionRequest.HighNoiseFraction"/>): this
    /// pipeline's model runs the high-noise timesteps, the refiner the rest, from the same generator. Null: none.
    /// </summary>
    public StableDiffusionModel? Refiner { get; init; }

    private StableDiffusionPipeline? _refinerPipeline;

    /// <summary>The refiner's pipeline: the same stages and samplers over <see cref="Refiner"/>.</summary>
    internal StableDiffusionPipeline RefinerPipeline => _refinerPipeline ??= new StableDiffusionPipeline(
        Refiner ?? throw new InvalidOperationException("The pipeline has no refiner."), _samplers, _logger as ILogger<StableDiffusionPipeline>);

    /// <summary>Generates one batch: every prompt × <see cref="StableDiffusionRequest.ImagesPerPrompt"/>.</summary>
    /// <param name="request">What to generate.</param>
    /// <param name="progress">Receives the step count, timestep and elapsed time after every step.</param>
    /// <param name="cancellationToken">Checked before every model call.</param>
    /// <exception cref="ImageSizeException">The width or height is not a positive multiple of the VAE factor.</exception>
    /// <exception cref="InvalidImageException">The start image cannot be read or does not fit the request.</exception>
    /// <exception cref="SchedulerConfigException">A sampling option is invalid (the message names it).</exception>
    /// <exception cref="NonFiniteValueException">A NaN or infinity appeared in the loop.</exception>
    /// <exception cref="ModelOutOfMemoryException">The UNet ran out of memory even for half the batch.</exception>
    /// <exception cref="ObjectDisposedException">The model (or the refiner) was disposed, before or during the run.</exception>
    public Task<StableDiffusionResult> GenerateAsync(StableDiffusionRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.HighNoiseFraction is not null)
        {
            var experts = BaseRefinerRun.Prepare(this, request); // both stages are checked before any work starts
            return Task.Run(() => experts.Run(progress, cancellationToken), cancellationToken);
        }
        var plan = Prepare(request); // bad requests fail here, before any work starts
        return Task.Run(() => Run(plan, progress, cancellationToken), cancellationToken);
    }

    /// <summary>Generates one batch on the calling thread.</summary>
    /// <inheritdoc cref="GenerateAsync" path="/param"/>
    public StableDiffusionResult Generate(StableDiffusionRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.HighNoiseFraction is not null
            ? BaseRefinerRun.Prepare(this, request).Run(progress, cancellationToken)
            : Run(Prepare(request), progress, cancellationToken);
    }

    /// <summary>A checked request, ready to run.</summary>
    internal sealed record Plan(StableDiffusionRequest Request, string[] Prompts, ISampler Sampler, SamplingOptions Options, TensorShape LatentShape,
        bool Guided, byte[]? InitRgb, int StartIndex, ConditioningContext Conditioning, InpaintingMask? Mask, bool ConcatenatesMask)
    {
        /// <summary>The timestep index to stop before (<c>denoising_end</c>), or null for the whole schedule.</summary>
        public int? EndIndex { get; init; }

        /// <summary>Where the run's steps are counted from in progress reports (a refiner stage continues the base's count).</summary>
        public int StepOffset { get; init; }

        /// <summary>The step total progress reports, or null for this run's own.</summary>
        public int? ReportedTotalSteps { get; init; }
    }

    internal Plan Prepare(StableDiffusionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Model.ThrowIfDisposed();
        var prompts = request.Prompts?.ToArray() ?? [request.Prompt];
        if (prompts.Length == 0 || prompts.Any(p => p is null))
            throw new ArgumentException("Give a prompt (Prompt, or a non-empty Prompts list without nulls); the empty string is a valid prompt.", nameof(request));
        if (request.ImagesPerPrompt < 1)
            throw new ArgumentException($"ImagesPerPrompt must be at least 1 (got {request.ImagesPerPrompt}).", nameof(request));
        SdxlRequestCheck.Validate(Model, request, prompts.Length);

        // Size: the request's, else the start image's (each side rounded down to the VAE factor, as the reference's image
        // processor does), else the UNet's sample size × the VAE factor.
        byte[]? rgb = null;
        int imageWidth = 0, imageHeight = 0;
        if (request.InitImage is { } file)
        {
            if (Model.VaeEncoder is null)
                throw new InvalidImageException($"Image to image and inpainting need a VAE encoder, and {Model.Folder} has no vae_encoder/model.onnx.");
            if (!(request.Strength > 0 && request.Strength <= 1))
                throw new SamplingOptionException(nameof(request.Strength), request.Strength.ToString("R", CultureInfo.InvariantCulture), "a number in (0, 1]");
            (rgb, imageWidth, imageHeight) = StableDiffusionImages.Decode(file);
        }
        else if (request.Mask is not null)
        {
            throw new InvalidImageException("A mask needs the picture it applies to: give InitImage (--init-image) as well as Mask (--mask).");
        }
        var factor = Model.VaeScaleFactor;
        var fallback = (Model.DefaultSampleSize ?? 64) * factor;
        var width = request.Width ?? (rgb is null ? fallback : imageWidth - imageWidth % factor);
        // Height null is "as Width" (a request of only Width = 64 is 64×64, as documented), else the start image's or the default.
        var height = request.Height ?? (request.Width is { } asWidth && rgb is null ? asWidth : rgb is null ? fallback : imageHeight - imageHeight % factor);
        // The UNet joins each downsampled map with its upsampled twin: the latent's sides must divide by its downsampling too.
        var downsampling = Model.Unet.LatentMultiple;
        var multiple = (long)factor * downsampling;
        if (width < multiple || height < multiple || width % multiple != 0 || height % multiple != 0)
            throw new ImageSizeException($"{width}×{height} pixels cannot be generated: width and height must be positive multiples of {factor} (the VAE's factor)" +
                (downsampling > 1 ? $" × {downsampling} (the UNet's downsampling) = {multiple}" : "") + $" for {Model.Folder}" +
                (rgb is not null && request.Width is null ? $" (the start image is {imageWidth}×{imageHeight})." : "."));
        // Sized before any work, as the digits path is: the latents' buffers and the decoded pictures (held for the whole
        // batch) must fit in one array each and in the memory the runtime may use.
        var batch = (long)prompts.Length * request.ImagesPerPrompt;
        if (batch > Array.MaxLength)
            throw new SamplingOptionException(nameof(request.ImagesPerPrompt), request.ImagesPerPrompt.ToString(CultureInfo.InvariantCulture), $"at most {Array.MaxLength / prompts.Length} images per prompt for {prompts.Length} prompts");
        var latent = BatchMemory.Check((int)batch, Model.LatentChannels, height / factor, width / factor,
            guided: ClassifierFreeGuidance.Applies(request.GuidanceScale) || request.Sampling?.CfgPlusPlus == true, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes,
            outputValuesPerItem: request.LatentsOnly ? 0 : 3L * width * height, batchOption: prompts.Length == 1 ? nameof(request.ImagesPerPrompt) : $"{nameof(request.ImagesPerPrompt)} × {prompts.Length} prompts");
        var info = Model.Unet.Info;
        if ((info.Height is { } fh && fh != latent.Height) || (info.Width is { } fw && fw != latent.Width))
            throw new ImageSizeException($"The UNet {Model.Unet.ModelPath} is fixed to latents of {info.Height}×{info.Width}, i.e. images of {info.Width * factor}×{info.Height * factor} pixels; {width}×{height} was asked for.");
        // Pictures of another size are resized, as the reference's image processors resize them.
        if (rgb is not null && (imageWidth != width || imageHeight != height)) rgb = StableDiffusionImages.Resize(rgb, imageWidth, imageHeight, width, height);
        var mask = request.Mask is { } maskFile ? InpaintingMask.Decode(maskFile, width, height) : null;
        var concatenates = InpaintingUnet.Check(Model, mask is not null);

        // The sampler: the request's, else the model's own class; the model's configuration supplies the schedule.
        var options = request.Sampling?.Clone() ?? new SamplingOptions();
        options.Sampler = request.Sampler ?? options.Sampler;
        options.Steps = request.Steps;
        options.GuidanceScale = request.GuidanceScale;
        options.GuidanceRescale = request.GuidanceRescale;
        options.OriginalInferenceSteps = request.OriginalInferenceSteps ?? options.OriginalInferenceSteps;
        // Align Your Steps: the family's published schedule unless the request names one (SD 1.x/2.x or SDXL).
        if (options.Spacing is not null)
            options.AlignYourStepsModel ??= Model.Xl is null ? AlignYourStepsModel.StableDiffusion : AlignYourStepsModel.StableDiffusionXL;
        var sampler = _samplers.Create(options, Model.SchedulerConfig);
        if (options.CfgPlusPlus) CfgPlusPlusSupport.Check(sampler);
        sampler.SetTimesteps(options.Steps);

        if (request.InitLatents is { } initLatents && initLatents.Length != latent.Length && initLatents.Length != latent.ItemLength)
            throw new SamplingOptionException(nameof(request.InitLatents), $"{initLatents.Length} values",
                $"latents of the request's shape {latent} ({latent.Length} values) or of one item ({latent.ItemLength}, repeated for the batch)");
        var imageToImage = rgb is not null || request.InitLatents is not null;
        if (!imageToImage && request.Strength != new StableDiffusionRequest().Strength)
            _logger.LogWarning("Strength {Strength} has no effect: the request has no start image (InitImage) or start latents (InitLatents), so the whole schedule runs.", request.Strength);
        // A guidance-distilled (LCM) UNet: the reference's LCM image-to-image pipeline gives the strength to a consistency
        // sampler's schedule itself; every other start is part-way into the full schedule, SDXL's included (the
        // reference runs an SDXL LCM UNet through StableDiffusionXLImg2ImgPipeline, which slices the full schedule).
        var distilled = Model.GuidanceEmbeddingDimension is not null;
        var strengthScheduled = distilled && Model.Xl is null;
        var startIndex = 0;
        if (request.DenoisingStart is { } start)
        {
            // The refiner of an ensemble of experts: the timesteps below the cutoff, whatever the strength.
            SdxlRequestCheck.SplitAllowed(sampler, nameof(request.DenoisingStart));
            startIndex = DenoisingSplit.StartIndex(sampler.Timesteps, sampler.Order, start, sampler.Config.NumTrainTimesteps);
            sampler.SetBeginIndex(startIndex);
        }
        else if (imageToImage && mask is null && strengthScheduled && SamplerDecorator.Unwrap(sampler) is IStrengthScheduledSampler consistency)
        {
            consistency.SetTimesteps(options.Steps, request.Strength);
        }
        else if (imageToImage)
        {
            startIndex = ImageToImageStart.Apply(sampler, options.Steps, request.Strength, rgb is null ? nameof(request.InitLatents) : nameof(request.InitImage));
        }
        int? endIndex = null;
        if (request.DenoisingEnd is { } end)
        {
            SdxlRequestCheck.SplitAllowed(sampler, nameof(request.DenoisingEnd));
            endIndex = DenoisingSplit.EndIndex(sampler.Timesteps, startIndex, end, sampler.Config.NumTrainTimesteps);
        }
        // As the reference: guidance runs only for a weight above 1, and never for a UNet that takes the guidance scale
        // as an embedding (it is conditioned on it instead).
        // CFG++ guides at every λ in [0, 1]; a guidance-distilled UNet has no unconditional pass to re-noise with.
        if (options.CfgPlusPlus && distilled)
            throw new SamplingOptionException(nameof(SamplingOptions.CfgPlusPlus), "true",
                $"false for {Model.Folder}: its UNet is guidance-distilled (it takes the guidance scale as an embedding) and makes no unconditional prediction");
        var guided = (ClassifierFreeGuidance.Applies(request.GuidanceScale) || options.CfgPlusPlus) && !distilled;
        // The conditioning stage checks the prompts (their syntax, what the UNet takes) before any work starts.
        var conditioning = new ConditioningContext(request, prompts, request.ImagesPerPrompt, guided, width, height);
        Model.Conditioner.Check(conditioning);
        return new Plan(request, prompts, sampler, options, latent, guided, rgb, startIndex, conditioning, mask, concatenates) { EndIndex = endIndex };
    }

    // The stages, in the reference's order: conditioning, latents, loop, decoding. A refiner stage continues the
    // base's generator (noise) and clock.
    internal StableDiffusionResult Run(Plan plan, IProgress<GenerationProgress>? progress, CancellationToken cancellationToken,
        TorchGaussianNoise? noise = null, Stopwatch? clock = null)
    {
        var (request, _, sampler, options, shape, guided, rgb, startIndex, context, mask, concatenates) = plan;
        clock ??= Stopwatch.StartNew();
        noise ??= new TorchGaussianNoise(request.Seed);

        // 1. Conditioning, once for the run, the unconditional rows of guidance included.
        var conditioning = Model.Conditioner.Build(context, cancellationToken);

        // 2. The latents entering the loop; for inpainting also the UNet's extra channels or the blend of the known region.
        cancellationToken.ThrowIfCancellationRequested();
        float[] x;
        float[]? extraChannels = null;
        ILatentStage? latentStage = null;
        if (mask is not null)
        {
            var inpainting = InpaintingStart.Prepare(Model, rgb!, mask, sampler, shape, startIndex, request.Strength, blends: !concatenates, noise, cancellationToken);
            x = inpainting.Latents;
            if (concatenates) extraChannels = inpainting.ExtraChannels(shape);
            else latentStage = new KnownRegionBlend(sampler, inpainting.ImageLatents!, inpainting.Noise, inpainting.LatentMask, shape.Batch);
        }
        else
        {
            x = RequestStartLatents.Prepare(Model, request, rgb, sampler, shape, startIndex, noise, cancellationToken);
        }
        var initial = x.ToArray();

        // 3. The UNet: an inpainting UNet's mask and masked-image channels appended, guided, retrying with half the batch
        //    once if memory runs out.
        var halving = new HalvingDenoiser(Model.Unet.CreateDenoiser(), batch => _logger.LogWarning(
            "The UNet ran out of memory for a batch of {Batch}; retrying with half the batch at a time.", batch));
        IDenoiser unet = extraChannels is null ? halving : new ConcatenatedChannelsDenoiser(halving, extraChannels, shape.Batch, 1 + shape.Channels);
        // The outermost denoiser owns the chain down to the UNet's buffers, released when the run ends.
        using IDenoiser denoiser = guided
            ? new ClassifierFreeGuidance(unet, request.GuidanceScale, request.GuidanceRescale) { KeepsUnconditionalOutput = options.CfgPlusPlus }
            : unet;

        // 4. The loop, shared with the SDK's other pipelines.
        var statistics = request.CollectStatistics ? new List<StepStatistics>() : null;
        x = new SamplingLoop
        {
            Sampler = sampler, Denoiser = denoiser, StartIndex = startIndex, EndIndex = plan.EndIndex, Conditioning = conditioning, LatentStage = latentStage,
            OnStep = request.OnStep, Progress = progress, Clock = clock, StepOffset = plan.StepOffset, ReportedTotalSteps = plan.ReportedTotalSteps,
            Statistics = statistics,
        }.Run(x, shape, noise, default, default, cancellationToken);

        // 5. Decoding (unless only the latents are wanted); the PNG files are encoded on demand.
        var (images, imageShape) = request.LatentsOnly ? ([], default(TensorShape)) : VaeDecoding.Decode(Model, x, shape, cancellationToken);
        // Disposed while the last stage ran on a part it shares with a model made by WithLoras (whose session lives on):
        // nothing made by a disposed model is given out.
        Model.ThrowIfDisposed();

        return new StableDiffusionResult
        {
            Images = images,
            ImageShape = imageShape,
            Latents = x,
            InitialLatents = initial,
            LatentShape = shape,
            SamplerName = sampler.Name,
            Timesteps = sampler.Timesteps.Take(plan.EndIndex ?? sampler.Timesteps.Count).Skip(startIndex).ToArray(),
            UnetEvaluations = halving.Evaluations,
            Elapsed = clock.Elapsed,
            Conditioning = conditioning,
            EncoderHiddenStatesShape = HiddenStatesShape(conditioning),
            Statistics = statistics,
        };
    }

    // [rows, tokens, width], the width being what the UNet declares for its encoder hidden states.
    private int[] HiddenStatesShape(ModelConditioning conditioning)
    {
        var width = Model.Unet.Signature.HiddenStatesSize;
        if (conditioning.EncoderHiddenStates.Length == 0 || width <= 0) return [];
        return [conditioning.Rows, conditioning.HiddenStatesRowLength / width, width];
    }
}
