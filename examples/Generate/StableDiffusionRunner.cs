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
            GuidanceScale = settings.Guidance ?? 7.5,
            GuidanceRescale = settings.GuidanceRescale,
            Seed = settings.Seed,
            Sampler = settings.Sampler,
            Sampling = settings.SamplingOptions(),
            ImagesPerPrompt = settings.Batch ?? 1,
            InitImage = settings.InitImage is { } init ? await File.ReadAllBytesAsync(init, cancellationToken) : null,
            Strength = settings.Strength,
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
            return Runner.Fail(e.Message, badArguments ? ExitCodes.BadArguments : ExitCodes.Failed);
        }
        catch (OperationCanceledException)
        {
            return Runner.Fail("cancelled; nothing was written", ExitCodes.Failed);
        }

        Write(settings, result);
        Console.WriteLine($"{result.SamplerName}: {result.LatentShape.Batch} image{(result.LatentShape.Batch == 1 ? "" : "s")} of {result.ImageShape.Width}×{result.ImageShape.Height}, " +
                          $"{result.Timesteps.Count} steps, {result.UnetEvaluations} UNet calls, {result.Elapsed.TotalSeconds:0.0} s");
        return ExitCodes.Success;
    }

    // The second texts pair with the first by position; missing ones default to the first text.
    private static string?[] Paired(IReadOnlyList<string> seconds, int count) =>
        Enumerable.Range(0, count).Select(i => i < seconds.Count ? seconds[i] : null).ToArray();

    // All or nothing: every file is encoded and staged beside its target, the image set (if any) goes in as a set,
    // and only then do the staged files move into place.
    private static void Write(GenerateSettings settings, StableDiffusionResult result)
    {
        using var files = new StagedFiles();
        if (settings.LatentsOut is { } npy) files.Stage(npy, Npy.Float32(result.Latents, result.LatentShape));
        if (settings.EmbeddingsOut is { } embeddings)
        {
            var conditioning = result.Conditioning ?? throw new InvalidOperationException("The pipeline returned no conditioning to write.");
            files.Stage(embeddings, Npy.Float32(conditioning.EncoderHiddenStates, result.EncoderHiddenStatesShape));
        }
        if (settings.Out is { } file)
        {
            // One image: the pipeline's own PNG; several: a grid (the grid encoder takes [−1, 1] pixels).
            files.Stage(file, result.Png.Count == 1 ? result.Png[0] : ImageEncoder.EncodeGridPng(result.Images.Select(v => 2 * v - 1).ToArray(), result.ImageShape, settings.Columns));
        }
        if (settings.OutDir is { } folder) ImageSetWriter.Write(folder, result.Png.Count, OutputPaths.ImageName, i => result.Png[i]);
        files.Commit();

        foreach (var path in files.Paths) Console.WriteLine($"wrote {path}");
        if (settings.OutDir is { } written) Console.WriteLine($"wrote {result.Png.Count} images to {written}");
    }
}
