using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Diffusion.Benchmarks.UserSteps;

/// <summary>
/// The reference side of the <c>user-steps</c> suite: <c>/usr/bin/python3</c> running <c>reference_user_steps.py</c>
/// (diffusers' schedulers on torch, CPU, one thread), asked one measurement at a time over stdin/stdout so that each
/// reference number is taken right next to the SDK's number for the same case.
/// </summary>
/// <remarks>
/// Needs torch importable by that interpreter and <c>DIFFUSERS_SRC</c> naming a diffusers checkout's <c>src</c> folder
/// (docs/benchmarks.md says how). Without torch nothing on the reference side is measured; without diffusers only
/// <c>torch.randn</c> is. <see cref="Status"/> says which, and why.
/// </remarks>
public sealed class ReferenceProcess : IDisposable
{
    /// <summary>The interpreter the reference runs on (Debian's python3-torch installs torch for it).</summary>
    public const string Python = "/usr/bin/python3";

    /// <summary>The variable naming diffusers' <c>src</c> folder.</summary>
    public const string DiffusersVariable = "DIFFUSERS_SRC";

    private readonly Process? _process;

    private ReferenceProcess(Process? process, string status, bool torch, bool diffusers)
    {
        _process = process;
        Status = status;
        HasTorch = torch;
        HasDiffusers = diffusers;
    }

    /// <summary>What the reference is ("torch 1.13.0, diffusers 0.40.0.dev0 from …"), or why it is not measured.</summary>
    public string Status { get; }

    /// <summary>Whether torch answers (the noise comparison).</summary>
    public bool HasTorch { get; }

    /// <summary>Whether diffusers' schedulers load (the loop comparison).</summary>
    public bool HasDiffusers { get; }

    /// <summary>Starts the interpreter, or returns a reference that measures nothing, with the reason.</summary>
    public static ReferenceProcess Start(string script)
    {
        if (!File.Exists(Python)) return new ReferenceProcess(null, $"not measured: {Python} not found", false, false);
        var start = new ProcessStartInfo(Python, ["-u", script])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // One thread, as the reference measurement is specified (torch.set_num_threads(1) in the script as well).
        start.Environment["OMP_NUM_THREADS"] = "1";
        start.Environment["MKL_NUM_THREADS"] = "1";
        var diffusers = Environment.GetEnvironmentVariable(DiffusersVariable);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("no process");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return new ReferenceProcess(null, $"not measured: {Python} did not start ({e.Message})", false, false);
        }

        // Python's warnings and tracebacks go to stderr; drain it so the pipe never fills.
        var errors = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) lock (errors) errors.AppendLine(line); };
        process.BeginErrorReadLine();
        var reference = new ReferenceProcess(process, "", false, false);
        var hello = reference.Ask(new JsonObject { ["op"] = "hello" });
        if (hello is null)
        {
            reference.Dispose();
            string tail;
            lock (errors) tail = errors.ToString().Trim().Split('\n').LastOrDefault() ?? "";
            return new ReferenceProcess(null, $"not measured: {Python} with torch is not available ({tail})", false, false);
        }

        var torch = (string?)hello["torch"] ?? "?";
        var version = (string?)hello["diffusers"];
        var status = version is null
            ? $"torch {torch}; diffusers not measured: {(string?)hello["problem"]} (see docs/benchmarks.md)"
            : $"torch {torch} on CPU, 1 thread; diffusers {version} from {diffusers}; {(string?)hello["scipy"] ?? "scipy: unknown"}";
        return new ReferenceProcess(process, status, true, version is not null);
    }

    /// <summary>
    /// Median µs (thread CPU time when <paramref name="threadTime"/>, else wall time) per scheduler call of <paramref name="runs"/> user-shaped runs of <paramref name="className"/>
    /// (after one warm-up run), and the number of calls per run; or the reason it could not be measured.
    /// </summary>
    public (double UsPerCall, int Calls)? Loop(string className, int[] shape, int steps, int runs, bool threadTime, out string? reason)
    {
        reason = null;
        if (!HasDiffusers)
        {
            reason = "not measured";
            return null;
        }
        var reply = Ask(new JsonObject { ["op"] = "loop", ["class"] = className, ["shape"] = Shape(shape), ["steps"] = steps, ["runs"] = runs, ["thread_time"] = threadTime });
        if (reply is null || reply["error"] is { } error)
        {
            reason = $"not measured: {(string?)reply?["error"] ?? "the reference process ended"}";
            return null;
        }
        return ((double)reply["us_per_call"]!, (int)reply["calls"]!);
    }

    /// <summary>Median over <paramref name="runs"/> of the mean µs (thread CPU time when <paramref name="threadTime"/>, else wall time) of one <c>torch.randn(shape)</c> over <paramref name="draws"/> draws.</summary>
    public double? Randn(int[] shape, int draws, int runs, bool threadTime)
    {
        if (!HasTorch) return null;
        var reply = Ask(new JsonObject { ["op"] = "randn", ["shape"] = Shape(shape), ["draws"] = draws, ["runs"] = runs, ["thread_time"] = threadTime });
        return reply is null || reply["error"] is not null ? null : (double)reply["us"]!;
    }

    private static JsonArray Shape(int[] shape) => new(shape.Select(d => (JsonNode)d).ToArray());

    private JsonNode? Ask(JsonObject request)
    {
        if (_process is null || _process.HasExited) return null;
        try
        {
            _process.StandardInput.WriteLine(request.ToJsonString());
            _process.StandardInput.Flush();
            var line = _process.StandardOutput.ReadLine();
            return line is null ? null : JsonNode.Parse(line);
        }
        catch (Exception e) when (e is IOException or JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Ends the interpreter.</summary>
    public void Dispose()
    {
        if (_process is null) return;
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(5000)) _process.Kill();
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}
