using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.StableDiffusion;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Generate;

/// <summary>Text to image (and image to image with --init-image) with a Stable Diffusion folder.</summary>
internal static class StableDiffusionRunner
{
    public static async Task<int> RunAsync(GenerateSettings settings, CancellationToken cancellationToken)
    {
        // The pictures are read before the model loads: a file that cannot be read, or a device that never ends, fails
        // in a second, not after a minute of loading.
        byte[]? initImage, mask;
        try
        {
            initImage = settings.InitImage is { } init ? StableDiffusionImages.ReadFile(init, "--init-image", cancellationToken) : null;
            mask = settings.Mask is { } maskFile ? StableDiffusionImages.ReadFile(maskFile, "--mask", cancellationToken) : null;
        }
        catch (InvalidImageException e)
        {
            return Runner.Fail(e.Message, ExitCodes.BadArguments);
        }

        using var loggers = LoggerFactory.Create(b =>
        {
            b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
            b.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        });
        var services = new ServiceCollection();
        services.AddSingleton(loggers);
        services.AddLogging();
        var diffusion = services.AddBuiltInSamplers().AddStableDiffusion(settings.ModelPath, o =>
        {
            o.Onnx = settings.ModelOptions();
            o.Loras = settings.Loras.Select(l => LoraArgument.Parse(l)!).ToList();
            o.VaeFolder = settings.Vae;
            o.RefinerFolder = settings.Refiner;
        });
        if (settings.PluginsDirectory is { } plugins) diffusion.AddPluginsFrom(plugins);
        await using var provider = services.BuildServiceProvider();

        StableDiffusionPipeline pipeline;
        try
        {
            pipeline = provider.GetRequiredService<StableDiffusionPipeline>();
        }
        catch (DiffusionException e)
        {
            return Runner.Fail(e.Message, ExitCodes.BadArguments);
        }

        // What each --lora adapter changed, and what it left out and why.
        if (settings.Loras.Count > 0) Console.WriteLine(pipeline.Model.Lora);

        var request = new StableDiffusionRequest
        {
            Prompt = settings.Prompt!,
            Prompts = settings.Prompts.Count > 1 ? settings.Prompts : null,
            Prompt2 = settings.Prompts.Count == 1 ? settings.Prompts2.FirstOrDefault() : null,
            Prompts2 = settings.Prompts.Count > 1 && settings.Prompts2.Count > 0 ? Paired(settings.Prompts2, settings.Prompts.Count) : null,
            NegativePrompt = settings.NegativePrompts.Count == 1 ? settings.NegativePrompt : null,
            NegativePrompts = settings.NegativePrompts.Count > 1 ? settings.NegativePrompts : null,
            NegativePrompt2 = settings.NegativePrompts.Count <= 1 ? settings.NegativePrompts2.FirstOrDefault() : null,
            NegativePrompts2 = settings.NegativePrompts.Count > 1 && settings.NegativePrompts2.Count > 0 ? Paired(settings.NegativePrompts2, settings.NegativePrompts.Count) : null,
            ClipSkip = settings.ClipSkip,
            MicroConditioning = settings.MicroConditioning,
            HighNoiseFraction = settings.Refiner is null ? null : settings.HighNoiseFraction,
            PromptSyntax = settings.PromptSyntax ?? PromptSyntax.Plain,
            PromptMaxWindows = settings.PromptMaxWindows ?? LongPromptEncoder.DefaultMaxWindows,
            Width = settings.Width,
            Height = settings.Height,
            Steps = settings.Steps,
            GuidanceScale = settings.Guidance ?? (settings.CfgPlusPlus ? GenerateSettings.DefaultCfgPlusPlusScale : 7.5),
            GuidanceRescale = settings.GuidanceRescale,
            Seed = settings.Seed,
            Sampler = settings.Sampler,
            Sampling = settings.SamplingOptions(),
            ImagesPerPrompt = settings.Batch ?? 1,
            InitImage = initImage,
            Mask = mask,
            Strength = settings.Strength,
            CollectStatistics = settings.Statistics,
        };

        StableDiffusionResult result;
        try
        {
            var samplerName = provider.GetRequiredService<ISamplerFactory>().ResolveName(settings.SamplingOptions(), pipeline.Model.SchedulerConfig);
            result = await ConsoleProgress.Run(ConsoleProgress.Title(samplerName, settings),
                progress => pipeline.GenerateAsync(request, progress, cancellationToken));
        }
        catch (Exception e) when (e is DiffusionException or ArgumentException)
        {
            var badArguments = e is ArgumentException or SchedulerConfigException or UnknownSamplerException or ImageSizeException or InvalidImageException or ModelLoadException
                or Diffusion.Sdk.Tokenizers.PromptSyntaxException;
            return Runner.Fail(e is SamplingOptionException option ? GenerateSettings.Reword(option) : e.Message, badArguments ? ExitCodes.BadArguments : ExitCodes.Failed);
        }
        catch (OperationCanceledException)
        {
            return Runner.Fail("cancelled; nothing was written", ExitCodes.Cancelled);
        }

        ConsoleProgress.PrintStatistics(result.Statistics);
        var written = Write(settings, result, cancellationToken);
        if (written != ExitCodes.Success) return written;
        Console.WriteLine($"{result.SamplerName}: {result.LatentShape.Batch} image{(result.LatentShape.Batch == 1 ? "" : "s")} of {result.ImageShape.Width}×{result.ImageShape.Height}, " +
                          $"{result.Timesteps.Count} steps, {result.UnetEvaluations} UNet calls, {result.Elapsed.TotalSeconds:0.0} s");
        return ExitCodes.Success;
    }

    // The second texts pair with the first by position; missing ones default to the first text.
    private static string?[] Paired(IReadOnlyList<string> seconds, int count) =>
        Enumerable.Range(0, count).Select(i => i < seconds.Count ? seconds[i] : null).ToArray();

    // All or nothing, as every run's outputs; one image or a grid from the same 8-bit pixels as the image set.
    private static int Write(GenerateSettings settings, StableDiffusionResult result, CancellationToken cancellationToken) =>
        new OutputSet()
            .File(settings.LatentsOut, () => Npy.Float32(result.Latents, result.LatentShape))
            .File(settings.EmbeddingsOut, () => Npy.Float32(
                (result.Conditioning ?? throw new InvalidOperationException("The pipeline returned no conditioning to write.")).EncoderHiddenStates, result.EncoderHiddenStatesShape))
            .Images(settings.OutDir, result.Png.Count, i => result.Png[i])
            .File(settings.Out, () => result.Png.Count == 1 ? result.Png[0] : StableDiffusionImages.EncodeGridPng(result.Images, result.ImageShape, settings.Columns))
            .Write(cancellationToken);
}
