using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Globalization;
using Microsoft.Extensions.AI;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// <see cref="StableDiffusionPipeline"/> behind Microsoft.Extensions.AI's <see cref="IImageGenerator"/>: the prompt,
/// <see cref="ImageGenerationOptions.Count"/> (images per prompt), <see cref="ImageGenerationOptions.ImageSize"/> and
/// the first of <see cref="ImageGenerationRequest.OriginalImages"/> (image to image) map onto a
/// <see cref="StableDiffusionRequest"/>; <see cref="ImageGenerationOptions.AdditionalProperties"/> may carry
/// <c>negative_prompt</c>, <c>seed</c>, <c>steps</c>, <c>guidance_scale</c>, <c>guidance_rescale</c>, <c>sampler</c>,
/// <c>strength</c> and, for SDXL, <c>prompt_2</c>, <c>negative_prompt_2</c>, <c>clip_skip</c> and <c>high_noise_fraction</c>,
/// and <see cref="ImageGenerationOptions.RawRepresentationFactory"/> may return a whole <see cref="StableDiffusionRequest"/>
/// to start from. The images come back as PNG <see cref="DataContent"/>. Thread-safe.
/// </summary>
public sealed class StableDiffusionImageGenerator(StableDiffusionPipeline pipeline) : IImageGenerator
{
    private readonly StableDiffusionPipeline _pipeline = pipeline ?? throw new ArgumentNullException(nameof(pipeline));

    /// <inheritdoc/>
    public async Task<ImageGenerationResponse> GenerateAsync(ImageGenerationRequest request, ImageGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var result = await _pipeline.GenerateAsync(ToRequest(request, options), cancellationToken: cancellationToken).ConfigureAwait(false);
        return new ImageGenerationResponse(result.Png.Select(png => (AIContent)new DataContent(png, "image/png")).ToList()) { RawRepresentation = result };
    }

    /// <summary>The pipeline request that <paramref name="request"/> and <paramref name="options"/> describe.</summary>
    public StableDiffusionRequest ToRequest(ImageGenerationRequest request, ImageGenerationOptions? options)
    {
        ArgumentNullException.ThrowIfNull(request);
        var start = options?.RawRepresentationFactory?.Invoke(this) as StableDiffusionRequest ?? new StableDiffusionRequest();
        var extra = options?.AdditionalProperties;
        var init = request.OriginalImages?.OfType<DataContent>().FirstOrDefault()?.Data.ToArray();
        // Everything of the starting request carries over (SDXL's micro-conditioning, a refiner's fraction…);
        // the image-generation request and its options override what they name.
        return start with
        {
            Prompt = request.Prompt ?? start.Prompt,
            Prompts = request.Prompt is null ? start.Prompts : null,
            NegativePrompt = Text(extra, "negative_prompt") ?? start.NegativePrompt,
            Prompt2 = Text(extra, "prompt_2") ?? start.Prompt2,
            NegativePrompt2 = Text(extra, "negative_prompt_2") ?? start.NegativePrompt2,
            ClipSkip = (int?)Number(extra, "clip_skip") ?? start.ClipSkip,
            HighNoiseFraction = Number(extra, "high_noise_fraction") ?? start.HighNoiseFraction,
            Width = options?.ImageSize?.Width ?? start.Width,
            Height = options?.ImageSize?.Height ?? start.Height,
            ImagesPerPrompt = options?.Count ?? start.ImagesPerPrompt,
            Seed = (ulong?)Number(extra, "seed") ?? start.Seed,
            Steps = (int?)Number(extra, "steps") ?? start.Steps,
            GuidanceScale = Number(extra, "guidance_scale") ?? start.GuidanceScale,
            GuidanceRescale = Number(extra, "guidance_rescale") ?? start.GuidanceRescale,
            Sampler = Text(extra, "sampler") ?? start.Sampler,
            Sampling = start.Sampling,
            InitImage = init ?? start.InitImage,
            Strength = Number(extra, "strength") ?? start.Strength,
        };
    }

    /// <inheritdoc/>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType.IsInstanceOfType(_pipeline)) return _pipeline;
        if (serviceType.IsInstanceOfType(_pipeline.Model)) return _pipeline.Model;
        return null;
    }

    /// <summary>Nothing to release: the pipeline and the model belong to whoever created them.</summary>
    public void Dispose() { }

    private static string? Text(AdditionalPropertiesDictionary? extra, string key) =>
        extra is not null && extra.TryGetValue(key, out var value) && value is not null ? Convert.ToString(value, CultureInfo.InvariantCulture) : null;

    private static double? Number(AdditionalPropertiesDictionary? extra, string key)
    {
        if (extra is null || !extra.TryGetValue(key, out var value) || value is null) return null;
        try
        {
            return value is System.Text.Json.JsonElement json ? json.GetDouble() : Convert.ToDouble(value, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or InvalidOperationException or OverflowException)
        {
            throw new ArgumentException($"The image-generation option '{key}' = '{value}' is not a number.", nameof(extra), e);
        }
    }
}
