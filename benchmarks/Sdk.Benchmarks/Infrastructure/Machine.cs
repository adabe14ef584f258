using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Diffusion.Benchmarks.Infrastructure;

/// <summary>What the numbers were measured on.</summary>
public sealed record MachineDescription(string Cpu, int LogicalCores, double MemoryGiB, string Os, string Runtime, string OnnxRuntime, string Architecture)
{
    /// <summary>The machine this process runs on.</summary>
    public static MachineDescription Current() => new(
        CpuModel(),
        Environment.ProcessorCount,
        Math.Round(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024), 1),
        RuntimeInformation.OSDescription,
        RuntimeInformation.FrameworkDescription,
        OnnxRuntimeVersion(),
        RuntimeInformation.ProcessArchitecture.ToString());

    /// <summary>One line for reports.</summary>
    public override string ToString() =>
        $"{Cpu}, {LogicalCores} logical cores, {MemoryGiB:0.#} GiB; {Os}; {Runtime}; ONNX Runtime {OnnxRuntime}";

    private static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line is not null) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    private static string OnnxRuntimeVersion()
    {
        try { return Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetVersionString(); }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or InvalidOperationException) { return "unknown"; }
    }
}

/// <summary>
/// How busy the machine was while a suite ran: the 1-minute load average (sampled every few seconds), and from
/// <c>/proc/stat</c> how many cores this process and everything else kept busy on average. The other processes'
/// share is the number to read: timings are ratios measured side by side, but a busy machine widens their spread.
/// </summary>
public sealed record LoadReport(double LoadAverageStart, double LoadAverageMean, double LoadAverageMax, double OwnCores, double OtherCores, double Seconds);

/// <summary>Samples the machine's load while a suite runs.</summary>
public sealed class LoadMonitor : IDisposable
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TimeSpan _ownStart = Process.GetCurrentProcess().TotalProcessorTime;
    private readonly (long Busy, long Total)? _statStart = ReadStat();
    private readonly List<double> _samples = [];
    private readonly Timer? _timer;
    private readonly Lock _gate = new();

    /// <summary>Starts sampling.</summary>
    /// <param name="periodic">
    /// Sample the load average every 5 s, not only at the start and the end. Off for BenchmarkDotNet suites: the
    /// sampling thread allocates, and the memory diagnoser counts every thread's allocations.
    /// </param>
    public LoadMonitor(bool periodic)
    {
        Sample();
        if (periodic) _timer = new Timer(_ => Sample(), null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
    }

    /// <summary>What was seen since the start.</summary>
    public LoadReport Report()
    {
        Sample();
        var seconds = _clock.Elapsed.TotalSeconds;
        var own = (Process.GetCurrentProcess().TotalProcessorTime - _ownStart).TotalSeconds / seconds;
        var other = double.NaN;
        if (_statStart is { } start && ReadStat() is { } end && end.Total > start.Total)
        {
            // /proc/stat counts jiffies over all cores: busy share × cores = cores kept busy.
            var busyCores = (double)(end.Busy - start.Busy) / (end.Total - start.Total) * Environment.ProcessorCount;
            other = Math.Max(0, busyCores - own);
        }
        lock (_gate)
        {
            if (_samples.Count == 0) return new LoadReport(double.NaN, double.NaN, double.NaN, Round(own), Round(other), Math.Round(seconds, 1));
            return new LoadReport(Round(_samples[0]), Round(_samples.Average()), Round(_samples.Max()), Round(own), Round(other), Math.Round(seconds, 1));
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _timer?.Dispose();

    private void Sample()
    {
        var load = ReadLoadAverage();
        if (double.IsNaN(load)) return;
        lock (_gate) _samples.Add(load);
    }

    private static double Round(double x) => double.IsFinite(x) ? Math.Round(x, 2) : x;

    private static double ReadLoadAverage()
    {
        try
        {
            var text = File.ReadAllText("/proc/loadavg");
            return double.Parse(text.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return double.NaN; }
    }

    private static (long Busy, long Total)? ReadStat()
    {
        try
        {
            var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
            // user nice system idle iowait irq softirq steal …: idle and iowait are not busy.
            var total = fields.Take(8).Sum();
            var idle = fields[3] + (fields.Length > 4 ? fields[4] : 0);
            return (total - idle, total);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or InvalidOperationException) { return null; }
    }
}
