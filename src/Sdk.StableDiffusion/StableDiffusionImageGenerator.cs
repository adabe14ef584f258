using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// <see cref="StableDiffusionPipeline"/> behind Microsoft.Extensions.AI's <see cref="IImageGenerator"/>: the prompt,
/// <see cref="ImageGenerationOptions.Count"/> (images per prompt), <see cref="ImageGenerationOptions.ImageSize"/> and
/// the first of <see cref="ImageGenerationRequest.OriginalImages"/> (image to image) map onto a
/// <see cref="StableDiffusionRequest"/>; <see cref="ImageGenerationOptions.AdditionalProperties"/> may carry
/// <c>negative_prompt</c>, <c>seed</c>, <c>steps</c>, <c>guidance_scale</c>, <c>guidance_rescale</c>, <c>sampler</c>,
/// <c>strength</c>, <c>original_inference_steps</c>, <c>mask</c> (inpainting: the mask picture's bytes or <c>DataContent</c>)
/// and, for SDXL, <c>prompt_2</c>, <c>negative_prompt_2</c>, <c>clip_skip</c> and <c>high_noise_fraction</c>,
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
    /// <exception cref="SamplingOptionException">An option has a value or a type it cannot take (the message names it): a seed
    /// or step count that is not an exact integer in range, a text option that is not text, a start image that is
    /// neither data nor a <c>file://</c> URI; or there is no prompt.</exception>
    public StableDiffusionRequest ToRequest(ImageGenerationRequest request, ImageGenerationOptions? options)
    {
        ArgumentNullException.ThrowIfNull(request);
        var start = options?.RawRepresentationFactory?.Invoke(this) as StableDiffusionRequest;
        // A null prompt is not the empty prompt: without a starting request that has prompts, there is nothing to generate.
        if (request.Prompt is null && start is null)
            throw new SamplingOptionException(nameof(ImageGenerationRequest.Prompt), null, "a prompt (the empty string asks for an unconditional image), or a StableDiffusionRequest with its prompts from RawRepresentationFactory");
        start ??= new StableDiffusionRequest();
        var extra = options?.AdditionalProperties;
        var init = StartImage(request.OriginalImages);
        // Everything of the starting request carries over (SDXL's micro-conditioning, a refiner's fraction…);
        // the image-generation request and its options override what they name.
        return start with
        {
            Prompt = request.Prompt ?? start.Prompt,
            Prompts = request.Prompt is null ? start.Prompts : null,
            NegativePrompt = Text(extra, "negative_prompt") ?? start.NegativePrompt,
            Prompt2 = Text(extra, "prompt_2") ?? start.Prompt2,
            NegativePrompt2 = Text(extra, "negative_prompt_2") ?? start.NegativePrompt2,
            ClipSkip = (int?)Integer(extra, "clip_skip", 0, int.MaxValue) ?? start.ClipSkip,
            HighNoiseFraction = Number(extra, "high_noise_fraction") ?? start.HighNoiseFraction,
            Width = options?.ImageSize?.Width ?? start.Width,
            Height = options?.ImageSize?.Height ?? start.Height,
            ImagesPerPrompt = options?.Count ?? start.ImagesPerPrompt,
            Seed = Seed(extra) ?? start.Seed,
            Steps = (int?)Integer(extra, "steps", 1, int.MaxValue) ?? start.Steps,
            GuidanceScale = Number(extra, "guidance_scale") ?? start.GuidanceScale,
            GuidanceRescale = Number(extra, "guidance_rescale") ?? start.GuidanceRescale,
            Sampler = Text(extra, "sampler") ?? start.Sampler,
            Sampling = start.Sampling,
            InitImage = init ?? start.InitImage,
            Mask = Bytes(extra, "mask") ?? start.Mask,
            Strength = Number(extra, "strength") ?? start.Strength,
            OriginalInferenceSteps = (int?)Integer(extra, "original_inference_steps", 1, int.MaxValue) ?? start.OriginalInferenceSteps,
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

    // Text options take text only: any other object's ToString() is not a prompt.
    private static string? Text(AdditionalPropertiesDictionary? extra, string key) =>
        extra is null || !extra.TryGetValue(key, out var value) || value is null ? null
        : value switch
        {
            string text => text,
            JsonElement { ValueKind: JsonValueKind.String } json => json.GetString(),
            JsonElement { ValueKind: JsonValueKind.Null } => null,
            _ => throw new SamplingOptionException(key, Describe(value), "text (a string)"),
        };

    // The first original image: data, or a file:// URI whose file is read; any other content or address is refused.
    private static byte[]? StartImage(IEnumerable<AIContent>? images) =>
        images?.FirstOrDefault() is { } first ? ContentBytes(first, nameof(ImageGenerationRequest.OriginalImages)) : null;

    // A picture given as content: its data, or the file a file:// URI names; other addresses are never fetched.
    private static byte[] ContentBytes(AIContent content, string option)
    {
        switch (content)
        {
            case DataContent data:
                return data.Data.ToArray();
            case UriContent { Uri: { IsAbsoluteUri: true, IsFile: true } uri }:
                return StableDiffusionImages.ReadFile(uri.LocalPath, option);
            case UriContent other:
                throw new SamplingOptionException(option, other.Uri.ToString(), "a DataContent, or a UriContent with a file:// URI (other addresses are not fetched)");
            default:
                throw new SamplingOptionException(option, content.GetType().Name, "a DataContent, or a UriContent with a file:// URI");
        }
    }

    // A mask picture: bytes, content (as the original images take it), or base64 text in JSON.
    private static byte[]? Bytes(AdditionalPropertiesDictionary? extra, string key) =>
        extra is null || !extra.TryGetValue(key, out var value) || value is null ? null
        : value switch
        {
            byte[] bytes => bytes,
            ReadOnlyMemory<byte> memory => memory.ToArray(),
            AIContent content => ContentBytes(content, key),
            JsonElement { ValueKind: JsonValueKind.Null } => null,
            JsonElement { ValueKind: JsonValueKind.String } json when json.TryGetBytesFromBase64(out var decoded) => decoded,
            _ => throw new SamplingOptionException(key, Describe(value), "the mask picture as bytes, base64 text, a DataContent, or a UriContent with a file:// URI"),
        };

    // The seed: an exact integer from 0 to 2^64 − 1 (never through double, which rounds above 2^53).
    private static ulong? Seed(AdditionalPropertiesDictionary? extra) => Integer(extra, "seed", 0, ulong.MaxValue) is { } seed ? (ulong)seed : null;

    // An exact integer in [min, max] from any integral type, an integral floating-point value, integer text, or a JSON number.
    private static Int128? Integer(AdditionalPropertiesDictionary? extra, string key, Int128 min, Int128 max)
    {
        if (extra is null || !extra.TryGetValue(key, out var value) || value is null) return null;
        Int128? exact = value switch
        {
            sbyte or byte or short or ushort or int or uint or long => Convert.ToInt64(value, CultureInfo.InvariantCulture),
            ulong u => u,
            Int128 i => i,
            UInt128 u when u <= (UInt128)Int128.MaxValue => (Int128)u,
            decimal d when d == decimal.Truncate(d) => (Int128)d,
            double d when double.IsFinite(d) && d == Math.Truncate(d) && Math.Abs(d) < 1e38 => (Int128)d,
            float f when float.IsFinite(f) && f == MathF.Truncate(f) && MathF.Abs(f) < 1e38f => (Int128)f,
            string text when Int128.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed) => parsed,
            JsonElement { ValueKind: JsonValueKind.Number } json when Int128.TryParse(json.GetRawText(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed) => parsed,
            JsonElement { ValueKind: JsonValueKind.Number } json when json.TryGetDecimal(out var d) && d == decimal.Truncate(d) => (Int128)d,
            JsonElement { ValueKind: JsonValueKind.Null } => null,
            _ => throw new SamplingOptionException(key, Describe(value), $"an integer from {min} to {max}"),
        };
        if (exact is { } v && (v < min || v > max))
            throw new SamplingOptionException(key, Describe(value), $"an integer from {min} to {max}");
        return exact;
    }

    // A number from any numeric type, numeric text, or a JSON number.
    private static double? Number(AdditionalPropertiesDictionary? extra, string key)
    {
        if (extra is null || !extra.TryGetValue(key, out var value) || value is null) return null;
        return value switch
        {
            double d => d,
            float f => f,
            decimal m => (double)m,
            sbyte or byte or short or ushort or int or uint or long or ulong => Convert.ToDouble(value, CultureInfo.InvariantCulture),
            string text when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) => parsed,
            JsonElement { ValueKind: JsonValueKind.Number } json => json.GetDouble(),
            JsonElement { ValueKind: JsonValueKind.Null } => null,
            _ => throw new SamplingOptionException(key, Describe(value), "a number"),
        };
    }

    private static string Describe(object value) => value switch
    {
        JsonElement json => $"{json.GetRawText()} (JSON {json.ValueKind})",
        IFormattable formattable => $"{formattable.ToString(null, CultureInfo.InvariantCulture)} ({value.GetType().Name})",
        string text => $"'{text}'",
        _ => $"a {value.GetType().Name}",
    };
}
