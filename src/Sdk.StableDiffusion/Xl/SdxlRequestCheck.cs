using System.Globalization;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// Checks a request's SDXL options and stage controls against the model before any work: SDXL-only options on an SD
/// 1.x/2.x model, list lengths, the clip skip against the encoders' layers, the micro-conditioning, the denoising
/// fractions, and a refiner-style UNet asked for text to image.
/// </summary>
internal static class SdxlRequestCheck
{
    /// <exception cref="SamplingOptionException">An option does not fit the request or the model; the exception names it.</exception>
    public static void Validate(StableDiffusionModel model, StableDiffusionRequest request, int prompts)
    {
        var xl = model.Xl;
        if (xl is null)
        {
            string? xlOnly = request.Prompt2 is not null ? nameof(request.Prompt2)
                : request.Prompts2 is not null ? nameof(request.Prompts2)
                : request.NegativePrompt2 is not null ? nameof(request.NegativePrompt2)
                : request.NegativePrompts2 is not null ? nameof(request.NegativePrompts2)
                : request.ClipSkip != 0 ? nameof(request.ClipSkip)
                : request.MicroConditioning is not null ? nameof(request.MicroConditioning)
                : null;
            if (xlOnly is not null)
                throw new SamplingOptionException(xlOnly, "set", $"unset: {model.Folder} is not an SDXL export (it has no text_encoder_2/ and no text_embeds / time_ids UNet inputs)");
        }
        Count(request.Prompts2?.Count, prompts, nameof(request.Prompts2), "one per prompt, paired by position");
        Count(request.NegativePrompts?.Count, prompts, nameof(request.NegativePrompts), "one per prompt, paired by position");
        if (request.NegativePrompts?.Any(n => n is null) == true)
            throw new SamplingOptionException(nameof(request.NegativePrompts), "a null entry", "texts (\"\" is encoded; leave the list null for no negative prompt)");
        Count(request.NegativePrompts2?.Count, prompts, nameof(request.NegativePrompts2), "one per prompt, paired by position");

        if (request.ClipSkip < 0)
            throw new SamplingOptionException(nameof(request.ClipSkip), request.ClipSkip.ToString(CultureInfo.InvariantCulture), "0 or more");
        if (xl is not null && request.ClipSkip > 0)
        {
            foreach (var pair in xl.TextEncoders.Pairs)
            {
                try
                {
                    pair.Encoder.HiddenStateOutput(2 + request.ClipSkip);
                }
                catch (ModelLoadException e)
                {
                    throw new SamplingOptionException(nameof(request.ClipSkip), request.ClipSkip.ToString(CultureInfo.InvariantCulture), $"a number of layers {pair.Name} has: {e.Message}");
                }
            }
        }
        request.MicroConditioning?.Validate();

        Fraction(request.DenoisingStart, nameof(request.DenoisingStart));
        Fraction(request.DenoisingEnd, nameof(request.DenoisingEnd));
        if (request is { DenoisingStart: { } start, DenoisingEnd: { } end } && start >= end)
            throw new SamplingOptionException(nameof(request.DenoisingEnd), end.ToString("R", CultureInfo.InvariantCulture), $"more than DenoisingStart ({start.ToString("R", CultureInfo.InvariantCulture)})");
        if (request.InitImage is not null && request.InitLatents is not null)
            throw new SamplingOptionException(nameof(request.InitLatents), "set together with InitImage", "one start: a picture (InitImage) or latents (InitLatents)");
        var imageToImage = request.InitImage is not null || request.InitLatents is not null;
        if (request.DenoisingStart is not null && !imageToImage)
            throw new SamplingOptionException(nameof(request.DenoisingStart), request.DenoisingStart.Value.ToString("R", CultureInfo.InvariantCulture),
                "null without a start: a refiner stage continues from InitLatents (a base run's latents) or InitImage");
        if (xl is { RequiresAestheticsScore: true } && !imageToImage)
            throw new SamplingOptionException(nameof(request.InitImage), "null",
                $"a start picture or InitLatents: {model.Folder} is an SDXL refiner (its UNet's time ids hold an aesthetic score), which runs image to image only, as the reference's StableDiffusionXLImg2ImgPipeline; use it through a base pipeline's Refiner with HighNoiseFraction");
    }

    /// <summary>A denoising split needs a fixed schedule.</summary>
    /// <exception cref="SamplingOptionException">The sampler chooses its own steps.</exception>
    public static void SplitAllowed(ISampler sampler, string option)
    {
        if (sampler is IAdaptiveSampler)
            throw new SamplingOptionException(option, "set", $"null: the '{sampler.Name}' sampler chooses its own steps, so its schedule cannot be split between a base and a refiner; use a fixed-schedule sampler");
    }

    private static void Count(int? given, int prompts, string option, string allowed)
    {
        if (given is { } n && n != prompts)
            throw new SamplingOptionException(option, $"{n} entries", $"{allowed} ({prompts})");
    }

    private static void Fraction(double? value, string option)
    {
        if (value is { } v && !(v > 0 && v < 1))
            throw new SamplingOptionException(option, v.ToString("R", CultureInfo.InvariantCulture), "a fraction of the schedule in (0, 1)");
    }
}
