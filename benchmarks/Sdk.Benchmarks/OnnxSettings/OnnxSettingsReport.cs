using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Globalization;
using System.Text;
using Diffusion.Benchmarks.Infrastructure;

namespace Diffusion.Benchmarks.OnnxSettings;

/// <summary>The report's sections on ONNX Runtime's settings and on CUDA.</summary>
public static class OnnxSettingsReport
{
    /// <summary>The onnx-settings suite's tables.</summary>
    public static void Write(SuiteRun<OnnxSettingsResult> run, StringBuilder md, CultureInfo c)
    {
        var r = run.Results;
        md.AppendLine("## ONNX Runtime settings on the CPU");
        md.AppendLine();
        md.AppendLine(string.Format(c,
            "`-- onnx-settings`: model calls per second through the SDK's `OnnxDenoiser` (one `Predict`, input and output copies included), one " +
            "setting at a time against the SDK's previous defaults (ONNX Runtime's own: its thread pool of one thread per physical core, sequential " +
            "mode, all graph optimizations, memory arena and pattern on, spinning threads) and against the new defaults (`new OnnxModelOptions()`). " +
            "Every setting has its own session, all loaded at once; each round times a block of calls of every setting back to back, in an order " +
            "rotated from round to round, with one untimed call before each block; {0} rounds; medians over the rounds (quartiles in brackets), " +
            "and the median of the per-round ratios to the previous defaults. Inputs: seeded Gaussian samples, timesteps cycling 999, 750, 500, 250, 1; " +
            "labels for the digits UNet, random 77×32 encoder hidden states for the Stable Diffusion one. max |Δ| is the largest difference from " +
            "the previous defaults' output for the same input.", r.Rounds));
        md.AppendLine();
        md.AppendLine(string.Format(c,
            "Conditions: {0}; the suite ran {1:yyyy-MM-dd HH:mm} UTC for {2:F0} s while other processes kept {3:F2} of the {4} cores busy (load average " +
            "{5:F1}, max {6:F1}). On a shared machine every figure below carries that contention: settings that make fewer threads wait on each other " +
            "gain most under load, and the spread of one setting is wide. Compare the ratios, measured side by side, rather than the absolute rates.",
            run.Machine, run.Date, run.Seconds, run.Load.OtherCores, run.Machine.LogicalCores, run.Load.LoadAverageMean, run.Load.LoadAverageMax));
        md.AppendLine();
        md.AppendLine("**Before and after** (the new defaults: `IntraOpThreads` null = one thread per logical core, set explicitly; `AllowSpinning` false; " +
                      "the rest as before), and the fastest single row of each table:");
        md.AppendLine();
        md.AppendLine("| model, sample | before: calls/s | after: calls/s | after ÷ before | fastest row | its ratio |");
        md.AppendLine("| --- | ---: | ---: | ---: | --- | ---: |");
        foreach (var k in r.Cases)
        {
            var before = k.Rows[0];
            var after = k.Rows[^1];
            var fastest = k.Rows.Where(x => x.Error is null).MaxBy(x => x.RatioToBefore)!;
            md.AppendLine(string.Format(c, "| {0}, {1} | {2:F1} | {3:F1} | **{4:F2}** | {5} | {6:F2} |", k.Model, Shape(k.Shape), before.CallsPerSecond,
                after.CallsPerSecond, after.RatioToBefore, fastest.Setting, fastest.RatioToBefore));
        }
        md.AppendLine();
        if (r.Earlier.Count > 0)
        {
            md.AppendLine("The same suite run before (after ÷ before per case, each a median over its own rounds), then this run:");
            md.AppendLine();
            md.AppendLine("| run (UTC) | other processes' cores | " + string.Join(" | ", r.Cases.Select(k => $"{k.Model}, {Shape(k.Shape)}")) + " |");
            md.AppendLine("| --- | ---: |" + string.Concat(r.Cases.Select(_ => " ---: |")));
            foreach (var e in r.Earlier)
                md.AppendLine(string.Format(c, "| {0:yyyy-MM-dd HH:mm} | {1:F2} | ", e.Date, e.OtherCores) +
                              string.Join(" | ", r.Cases.Select(k => e.AfterToBefore.TryGetValue($"{k.Model}, {k.Shape}", out var v) ? v.ToString("F2", c) : "–")) + " |");
            md.AppendLine(string.Format(c, "| {0:yyyy-MM-dd HH:mm} (this run) | {1:F2} | ", run.Date, run.Load.OtherCores) +
                          string.Join(" | ", r.Cases.Select(k => k.Rows[^1].RatioToBefore.ToString("F2", c))) + " |");
            md.AppendLine();
        }
        md.AppendLine("Reading the tables (the mechanisms are ONNX Runtime's; the sizes are this machine's under this load):");
        md.AppendLine();
        md.AppendLine("- **Threads.** Left at 0, ONNX Runtime starts one thread per physical core and pins each to a core; when another process " +
                      "holds that core, the pinned thread waits for it and every operator waits for its slowest thread. Any explicit count " +
                      "turns the pinning off, which is why the new default states the logical core count. One thread can be faster still " +
                      "when other processes keep the cores busy, since it never waits for a second one; on a machine of its own a large batch " +
                      "finishes sooner with all cores, so the default stays at one per core and `IntraOpThreads = 1` is the setting for shared machines.");
        md.AppendLine("- **Spinning.** Idle pool threads spin between operators by default; with as many threads as cores they take the cores from " +
                      "the thread that has the work, and from the sessions of other settings here. Off, they sleep.");
        md.AppendLine("- **Both together** gained far more on this loaded machine than either alone, more than two cores' worth of parallelism " +
                      "can explain: the calls of the other rows were slowed by the contention, not by their own work. A likely cause is the " +
                      "kernel's scheduler, which lets a thread that sleeps and wakes run ahead of threads that keep the core busy (the other " +
                      "processes' compilers, and a spinning or pinned pool); unpinned threads that sleep when idle get the cores when there " +
                      "is work. On an idle machine expect much smaller differences: these figures say which setting to prefer, not how fast " +
                      "it is elsewhere.");
        md.AppendLine("- **Parallel mode** splits the threads between operators, but a UNet is one chain with few independent branches: it only adds " +
                      "scheduling. **Lower graph optimization levels** lose the fusions (convolution with its activation, attention, layer-norm " +
                      "patterns) and are slower; the level changes outputs in the last bits (the max |Δ| column). **Arena and memory pattern** change " +
                      "little here: with fixed shapes both reuse their buffers from the second call on.");
        md.AppendLine("- **float16 exports** load and run on the CPU, but ONNX Runtime has float16 CPU kernels for few operators and inserts casts to " +
                      "float32 around the rest, so they are no faster than the float32 export and their outputs differ by the float16 rounding " +
                      "(max |Δ|). Storing only the weights in float16 halves the file and computes in float32 as before. Keep float32 exports for the CPU.");
        md.AppendLine("- **Denormals as zero** changed no output here (max |Δ| 0). Alone it is within the spread; added to the new defaults it " +
                      "measured faster still in these runs (see \"fastest row\"). It stays off by default all the same: ONNX Runtime sets the " +
                      "processor's flush-to-zero and denormals-are-zero modes on the thread that creates the session, not only on its own threads, " +
                      "which silently changes that thread's float arithmetic (the SDK's sampler math included). Turn it on " +
                      "(`DenormalsAsZero = true`) where that is acceptable.");
        md.AppendLine();
        foreach (var k in r.Cases)
        {
            md.AppendLine(string.Format(c, "### {0}, sample {1}", k.Model, Shape(k.Shape)));
            md.AppendLine();
            md.AppendLine(string.Format(c, "`{0}`, {1} calls per block.", k.Path, k.CallsPerBlock));
            md.AppendLine();
            md.AppendLine("| setting | calls/s | ÷ previous defaults | max \\|Δ\\| |");
            md.AppendLine("| --- | ---: | ---: | ---: |");
            foreach (var row in k.Rows)
            {
                if (row.Error is { } error)
                {
                    md.AppendLine($"| {row.Setting} | does not load: {error.Replace("|", "\\|", StringComparison.Ordinal).ReplaceLineEndings(" ")} | | |");
                    continue;
                }
                var bold = row.Setting.StartsWith("after", StringComparison.Ordinal) || row.Setting.StartsWith("before", StringComparison.Ordinal);
                md.AppendLine(string.Format(c, "| {0} | {1:F1} ({2:F1}–{3:F1}) | {4}{5:F2}{4} | {6} |", bold ? $"**{row.Setting}**" : row.Setting,
                    row.CallsPerSecond, row.CallsPerSecondLow, row.CallsPerSecondHigh, bold ? "**" : "", row.RatioToBefore,
                    row.MaxAbsDifference == 0 ? "0" : row.MaxAbsDifference.ToString("0.0e0", c)));
            }
            md.AppendLine();
        }
    }

    private static string Shape(string shape) => shape.Replace(", ", "×", StringComparison.Ordinal).Trim('[', ']');

    /// <summary>The CUDA section: what tools/gpu-check measured, or that it has not run.</summary>
    public static void WriteCuda(string? gpuCheckJson, StringBuilder md)
    {
        md.AppendLine("## CUDA");
        md.AppendLine();
        if (gpuCheckJson is null || !File.Exists(gpuCheckJson))
        {
            md.AppendLine("**Not run: no GPU lent.** The CUDA provider has not been run by this project yet. What is tested without a GPU (CI): the " +
                          "GPU build (`-p:OnnxRuntimeGpu=true`, `Microsoft.ML.OnnxRuntime.Gpu` 1.31.0, a CUDA 13 build) restores and compiles, `Cuda` " +
                          "fails at once with `ExecutionProviderUnavailableException` naming the missing libraries, and `Auto` runs on the CPU after one warning " +
                          "(`tests/Sdk.Onnx.GpuTests`).");
            md.AppendLine();
            md.AppendLine("A one-shot check is prepared: `tools/gpu-check` runs the digits UNet and the Stable Diffusion test UNet on CUDA and on the CPU, " +
                          "compares their outputs (largest absolute difference per call, and of the final latents of a 20-step guided DDIM generation), and " +
                          "times model calls and whole generations on both. How its 270 MB (staged: 39.6 MB of program and runtime, 231 MB of CUDA provider in six pieces) reach a GPU machine that takes 64 MiB per command and has no .NET is " +
                          "worked out in [tools/gpu-check/README.md](../tools/gpu-check/README.md); its `gpu-check.json`, copied to " +
                          "`benchmarks/results/gpu-check.json`, is shown here on the next `-- report`.");
            md.AppendLine();
            return;
        }
        md.AppendLine("From `benchmarks/results/gpu-check.json` (tools/gpu-check on a GPU machine):");
        md.AppendLine();
        md.AppendLine("```json");
        md.AppendLine(File.ReadAllText(gpuCheckJson).TrimEnd());
        md.AppendLine("```");
        md.AppendLine();
    }
}
