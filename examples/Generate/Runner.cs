using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Onnx;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Generate;

/// <summary>Runs one generation: load the model, build the host through DI, sample, write the PNGs.</summary>
internal static class Runner
{
    public static async Task<int> RunAsync(GenerateSettings settings, CancellationToken cancellationToken)
    {
        if (settings.ListSamplers) return SamplerList.Print(settings.PluginsDirectory);
        if (settings.Problem() is { } problem) return Fail(problem, ExitCodes.BadArguments);
        foreach (var warning in settings.Warnings()) Console.Error.WriteLine("warning: " + warning);
        if (settings.Prompt is not null) return await StableDiffusionRunner.RunAsync(settings, cancellationToken);

        // Warnings (an unknown scheduler class, an option the sampler ignores, a plugin that failed) go to stderr.
        using var loggers = LoggerFactory.Create(b =>
        {
            b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
            b.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        });
        OnnxDiffusionModel model;
        try
        {
            model = OnnxDiffusionModel.Load(settings.ModelPath, settings.ModelOptions(), loggers.CreateLogger("model"));
        }
        catch (DiffusionException e)
        {
            return Fail(e.Message, ExitCodes.BadArguments);
        }

        using (model)
        {
            var services = new ServiceCollection();
            services.AddSingleton(loggers);
            services.AddSingleton<IDiffusionModel>(model);
            var diffusion = services.AddBuiltInSamplers()
                .AddDiffusionPipeline();
            if (settings.PluginsDirectory is { } plugins) diffusion.AddPluginsFrom(plugins);
            await using var provider = services.BuildServiceProvider();

            var (labels, columns) = LabelPlan.For(settings.Label, (settings.Batch ?? 100), model.Info, settings.Columns);
            if (settings.Out is not null && GridProblem(settings, model.Info, columns) is { } grid) return Fail(grid, ExitCodes.BadArguments);
            var request = new GenerationRequest
            {
                Sampling = settings.SamplingOptions(conditional: model.Info.HasClassLabels || model.Info.EncoderHiddenStatesLength is not null),
                BatchSize = (settings.Batch ?? 100),
                Seed = settings.Seed,
                ClassLabels = labels,
                CollectStatistics = settings.Statistics,
                Ensemble = settings.SamplerEnsemble(),
            };

            GenerationResult result;
            try
            {
                var pipeline = provider.GetRequiredService<DiffusionPipeline>();
                var samplerName = request.Ensemble is { } ensemble
                    ? $"ensemble {ensemble}"
                    : provider.GetRequiredService<Diffusion.Sdk.Abstractions.ISamplerFactory>().ResolveName(request.Sampling, model.SchedulerConfig);
                result = await ConsoleProgress.Run(ConsoleProgress.Title(samplerName, settings),
                    progress => pipeline.GenerateAsync(request, progress, cancellationToken));
            }
            catch (SamplingOptionException e)
            {
                return Fail(GenerateSettings.Reword(e), ExitCodes.BadArguments);
            }
            catch (SchedulerConfigException e) when (e.Key == "num_inference_steps")
            {
                return Fail($"--steps must be {e.Allowed} (got {e.Value})", ExitCodes.BadArguments);
            }
            catch (Exception e) when (e is DiffusionException or ArgumentException)
            {
                return Fail(e.Message, e is SchedulerConfigException or UnknownSamplerException or ArgumentException ? ExitCodes.BadArguments : ExitCodes.Failed);
            }
            catch (OperationCanceledException)
            {
                return Fail("cancelled; nothing was written", ExitCodes.Cancelled);
            }

            ConsoleProgress.PrintStatistics(result.Statistics);

            var written = Write(settings, result, columns, cancellationToken);
            if (written != ExitCodes.Success) return written;
            Console.WriteLine($"{result.SamplerName}: {result.Shape.Batch} images, {result.Timesteps.Count} steps{(result.RejectedSteps > 0 ? $" (and {result.RejectedSteps} rejected)" : "")}, {result.ModelEvaluations} model calls, {result.Elapsed.TotalSeconds:0.0} s");
            return ExitCodes.Success;
        }
    }

    // The grid's size is known once the model's image size is: refuse a grid too large for one image up front.
    private static string? GridProblem(GenerateSettings settings, ModelInfo info, int? columns)
    {
        if (info.Height is not { } height || info.Width is not { } width) return null;
        var shape = new TensorShape((settings.Batch ?? 100), info.Channels, height, width);
        try
        {
            ImageEncoder.GridSize(shape, columns ?? (int)Math.Ceiling(Math.Sqrt(settings.Batch ?? 100)));
            return null;
        }
        catch (ArgumentOutOfRangeException)
        {
            return $"--out: a grid of {settings.Batch ?? 100} images{(columns is { } c ? $" in {c} columns" : "")} is too large for one image (at most 65536 pixels a side); use fewer images, other --columns, or --out-dir";
        }
    }

    /// <summary>Writes the run's outputs all or nothing (<see cref="OutputSet"/>).</summary>
    internal static int Write(GenerateSettings settings, GenerationResult result, int? columns, CancellationToken cancellationToken) =>
        new OutputSet()
            .File(settings.LatentsOut, () => Npy.Float32(result.Latents, result.Shape))
            .Images(settings.OutDir, result.Shape.Batch, i => ImageEncoder.EncodePng(result.Latents, result.Shape, i))
            .File(settings.Out, () => ImageEncoder.EncodeGridPng(result.Latents, result.Shape, columns))
            .Write(cancellationToken);

    internal static int Fail(string message, int code)
    {
        Console.Error.WriteLine($"error: {message}");
        return code;
    }
}

internal static class ExitCodes
{
    public const int Success = 0;
    public const int Failed = 1;
    public const int BadArguments = 2;
    public const int Cancelled = 130; // as a shell reports a run stopped by Ctrl-C (128 + SIGINT)
}
