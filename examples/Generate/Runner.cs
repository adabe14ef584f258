using Diffusion;
using Diffusion.Configuration;
using Diffusion.Denoising;
using Diffusion.Imaging;
using Diffusion.Onnx;
using Diffusion.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Generate;

/// <summary>Runs one generation: load the model, build the host through DI, sample, write the PNGs.</summary>
internal static class Runner
{
    public static async Task<int> RunAsync(GenerateSettings settings, CancellationToken cancellationToken)
    {
        if (settings.Problem() is { } problem) return Fail(problem, ExitCodes.BadArguments);

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
            var diffusion = services.AddDiffusionSampling()
                .AddDdpmSampler().AddDdimSampler().AddDpmSolverSampler().AddEulerSampler().AddEulerAncestralSampler().AddPndmSampler()
                .AddUniPcSampler().AddDeisSampler()
                .AddDiffusionPipeline();
            if (settings.PluginsDirectory is { } plugins) diffusion.AddPluginsFrom(plugins);
            await using var provider = services.BuildServiceProvider();

            var (labels, columns) = LabelPlan.For(settings.Label, settings.Batch, model.Info, settings.Columns);
            var request = new GenerationRequest
            {
                Sampling = settings.SamplingOptions(conditional: model.Info.HasClassLabels || model.Info.EncoderHiddenStatesLength is not null),
                BatchSize = settings.Batch,
                Seed = settings.Seed,
                ClassLabels = labels,
                CollectStatistics = settings.Statistics,
            };

            GenerationResult result;
            try
            {
                var pipeline = provider.GetRequiredService<DiffusionPipeline>();
                var samplerName = provider.GetRequiredService<Diffusion.Scheduling.ISamplerFactory>().ResolveName(request.Sampling, model.SchedulerConfig);
                result = await ConsoleProgress.Run($"{samplerName}, {settings.Steps} steps",
                    progress => pipeline.GenerateAsync(request, progress, cancellationToken));
            }
            catch (Exception e) when (e is DiffusionException or ArgumentException)
            {
                return Fail(e.Message, e is SchedulerConfigException or UnknownSamplerException or ArgumentException ? ExitCodes.BadArguments : ExitCodes.Failed);
            }
            catch (OperationCanceledException)
            {
                return Fail("cancelled; nothing was written", ExitCodes.Failed);
            }

            if (result.Statistics is { } stats)
                foreach (var s in stats)
                    Console.WriteLine($"step {s.Index,3} t={s.Timestep,7:0.##}  sample [{s.Sample.Min,8:0.000}, {s.Sample.Max,8:0.000}] mean {s.Sample.Mean,7:0.000} std {s.Sample.Std,6:0.000}" +
                                      $"  output [{s.ModelOutput.Min,8:0.000}, {s.ModelOutput.Max,8:0.000}] mean {s.ModelOutput.Mean,7:0.000} std {s.ModelOutput.Std,6:0.000}");

            Write(settings, result, columns);
            Console.WriteLine($"{result.SamplerName}: {result.Shape.Batch} images, {result.Timesteps.Count} steps, {result.ModelEvaluations} model calls, {result.Elapsed.TotalSeconds:0.0} s");
            return ExitCodes.Success;
        }
    }

    private static void Write(GenerateSettings settings, GenerationResult result, int? columns)
    {
        if (settings.Out is { } grid)
        {
            ImageEncoder.WriteAtomically(grid, ImageEncoder.EncodeGridPng(result.Latents, result.Shape, columns));
            Console.WriteLine($"wrote {grid}");
        }
        if (settings.OutDir is { } folder)
        {
            for (var i = 0; i < result.Shape.Batch; i++)
                ImageEncoder.WriteAtomically(Path.Combine(folder, $"{i:000}.png"), ImageEncoder.EncodePng(result.Latents, result.Shape, i));
            Console.WriteLine($"wrote {result.Shape.Batch} images to {folder}");
        }
    }

    private static int Fail(string message, int code)
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
}
