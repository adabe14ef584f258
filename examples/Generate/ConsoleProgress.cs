using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Pipeline;
using Spectre.Console;

namespace Generate;

/// <summary>A progress bar on a terminal; plain lines, one per step, when the output is redirected.</summary>
internal static class ConsoleProgress
{
    /// <summary>The progress title: the sampler and its steps, or its tolerances when it chooses its own steps.</summary>
    public static string Title(string samplerName, GenerateSettings settings)
    {
        if (samplerName != SamplerNames.DpmAdaptive) return $"{samplerName}, {settings.Steps} steps";
        if (settings.StepsGiven) Console.Error.WriteLine($"warning: --steps has no effect with {samplerName}: it chooses its own steps (--rtol and --atol set its accuracy)");
        var rtol = (settings.Rtol ?? 0.05).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var atol = (settings.Atol ?? 0.0078).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return $"{samplerName}, rtol {rtol}, atol {atol}";
    }

    public static async Task<T> Run<T>(string title, Func<IProgress<GenerationProgress>, Task<T>> work)
    {
        if (Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
            return await work(new PlainProgress(title));

        T result = default!;
        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(title);
                result = await work(new BarProgress(task));
                task.StopTask();
            });
        return result;
    }

    private sealed class PlainProgress(string title) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => Console.WriteLine(value.TotalSteps is { } total
            ? $"{title}: step {value.Step}/{total} (t = {value.Timestep:0.##}) {value.Elapsed.TotalSeconds:0.0} s"
            : $"{title}: step {value.Step}, σ = {value.Sigma:0.####}, {value.ModelEvaluations} model calls, {value.RejectedSteps} rejected, {value.Fraction:P0} {value.Elapsed.TotalSeconds:0.0} s");
    }

    private sealed class BarProgress(ProgressTask task) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value)
        {
            // An adaptive sampler's total is unknown: the bar shows how far σ has come, in log σ.
            task.MaxValue = value.TotalSteps ?? 1000;
            task.Value = value.TotalSteps is null ? Math.Round(value.Fraction * 1000) : value.Step;
        }
    }

    /// <summary>Prints one line per step (<c>--stats</c>): the range, mean and spread of the model's input and output.</summary>
    public static void PrintStatistics(IReadOnlyList<StepStatistics>? statistics)
    {
        foreach (var s in statistics ?? [])
            Console.WriteLine($"step {s.Index,3} t={s.Timestep,7:0.##}  sample [{s.Sample.Min,8:0.000}, {s.Sample.Max,8:0.000}] mean {s.Sample.Mean,7:0.000} std {s.Sample.Std,6:0.000}" +
                              $"  output [{s.ModelOutput.Min,8:0.000}, {s.ModelOutput.Max,8:0.000}] mean {s.ModelOutput.Mean,7:0.000} std {s.ModelOutput.Std,6:0.000}");
    }
}
