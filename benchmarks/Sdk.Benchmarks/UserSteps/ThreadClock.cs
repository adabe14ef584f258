using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Diffusion.Benchmarks.UserSteps;

/// <summary>
/// The CPU time of the calling thread (Linux <c>CLOCK_THREAD_CPUTIME_ID</c>, what Python's <c>time.thread_time</c>
/// reads), or wall time where that clock is not available. On a machine shared with other work, a thread's CPU time
/// counts only the time it ran, so two measurements taken minutes apart under different load stay comparable; the
/// reference side reads the same clock.
/// </summary>
public static class ThreadClock
{
    private const int ClockThreadCpuTimeId = 3;

    /// <summary>Whether the thread's CPU clock is in use (else wall time).</summary>
    public static bool IsThreadCpuTime { get; } = Probe();

    /// <summary>Name of the clock, for reports.</summary>
    public static string Name => IsThreadCpuTime ? "thread CPU time" : "wall time";

    /// <summary>Microseconds on the clock, from an arbitrary origin.</summary>
    public static double NowMicroseconds()
    {
        if (IsThreadCpuTime && clock_gettime(ClockThreadCpuTimeId, out var t) == 0) return t.Seconds * 1e6 + t.Nanoseconds / 1e3;
        return Stopwatch.GetTimestamp() * 1e6 / Stopwatch.Frequency;
    }

    private static bool Probe()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return clock_gettime(ClockThreadCpuTimeId, out _) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int clock_gettime(int clock, out TimeSpec time);
}
