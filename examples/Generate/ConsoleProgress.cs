using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Pipeline;
using Spectre.Console;

namespace Generate;

/// <summary>A progress bar on a terminal; plain lines, one per step, when the output is redirected.</summary>
internal static class ConsoleProgress
{
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
        public void Report(GenerationProgress value) =>
            Console.WriteLine($"{title}: step {value.Step}/{value.TotalSteps} (t = {value.Timestep:0.##}) {value.Elapsed.TotalSeconds:0.0} s");
    }

    private sealed class BarProgress(ProgressTask task) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value)
        {
            task.MaxValue = value.TotalSteps;
            task.Value = value.Step;
        }
    }
}
