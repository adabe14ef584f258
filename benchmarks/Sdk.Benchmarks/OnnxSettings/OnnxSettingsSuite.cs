using System.Diagnostics;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Onnx;

namespace Diffusion.Benchmarks.OnnxSettings;

/// <summary>
/// ONNX Runtime's CPU settings, one at a time, against the SDK's previous defaults (ONNX Runtime's own: its thread
/// count, sequential mode, all graph optimizations, arena and memory pattern on, spinning threads) and against the
/// new defaults (<c>new OnnxModelOptions()</c>), on the embedded digits UNet and the Stable Diffusion test UNet, in
/// model calls per second through the SDK's <see cref="OnnxDenoiser"/>. Every setting has its own session, all of them
/// loaded at once; each round times a block of calls of every setting back to back, in an order rotated from round to
/// round, so that a change in the machine's load hits all of them; the figures are medians over the rounds.
/// </summary>
public static class OnnxSettingsSuite
{
    /// <summary>The Stable Diffusion fixture's pipeline folder, as the tests carry it (its UNet is what the loader takes from it).</summary>
    public static string SdTinyPipeline => Repository.Path("tests", "Sdk.Tests", "TestData", "sd-tiny-legacy", "model");

    private const double BlockSeconds = 0.2;

    private sealed record Setting(string Label, Func<OnnxModelOptions> Options, string? File = null);

    /// <summary>Runs every case; <paramref name="rounds"/> rounds each.</summary>
    public static OnnxSettingsResult Run(int rounds, Action<string> log)
    {
        var clock = Stopwatch.StartNew();
        var cases = new List<OnnxSettingsCase>();
        var digitsUnet = Repository.Path("models", "digits", "unet", "model.onnx");
        var digitsFp16 = Convert(digitsUnet, "digits", null, log) is { } d ? (d.Full, d.Weights) : ((string, string)?)null;
        cases.Add(RunCase("digits UNet", Repository.DigitsModel, digitsUnet, new TensorShape(2, 1, 28, 28), 0, digitsFp16, rounds, log));
        cases.Add(RunCase("digits UNet", Repository.DigitsModel, digitsUnet, new TensorShape(16, 1, 28, 28), 0, digitsFp16, rounds, log));
        if (Directory.Exists(SdTinyPipeline))
        {
            // The legacy export leaves the sample's channel dimension symbolic, which the loader refuses: the
            // benchmark measures a float32 copy with it fixed to 4 (the export is otherwise unchanged).
            var sdUnet = Path.Combine(SdTinyPipeline, "unet", "model.onnx");
            if (Convert(sdUnet, "sd-tiny-unet", 4, log) is { } copies)
                cases.Add(RunCase("SD test UNet (sd-tiny-legacy)", copies.Float32, copies.Float32, new TensorShape(2, 4, 8, 8), 77, (copies.Full, copies.Weights), rounds, log));
        }
        else log($"onnx-settings: {SdTinyPipeline} is absent; the Stable Diffusion UNet is not measured.");
        return new OnnxSettingsResult(rounds, cases, Math.Round(clock.Elapsed.TotalSeconds, 1));
    }

    /// <summary>The previous defaults: nothing set, so ONNX Runtime's own.</summary>
    private static OnnxModelOptions Before() => new()
    {
        IntraOpThreads = 0, InterOpThreads = null, ExecutionMode = OnnxExecutionMode.Sequential, GraphOptimizationLevel = OnnxGraphOptimizationLevel.All,
        EnableMemoryArena = true, EnableMemoryPattern = true, AllowSpinning = true, DenormalsAsZero = false,
    };

    private static OnnxModelOptions With(Action<OnnxModelOptions> change)
    {
        var options = Before();
        change(options);
        return options;
    }

    private static List<Setting> Settings((string Full, string Weights)? fp16)
    {
        var cores = Environment.ProcessorCount;
        var list = new List<Setting>
        {
            new("before: ONNX Runtime's defaults", Before),
            new("1 intra-op thread", () => With(o => o.IntraOpThreads = 1)),
            new($"{cores} intra-op threads (one per logical core)", () => With(o => o.IntraOpThreads = cores)),
            new($"parallel mode, {cores} inter-op threads", () => With(o => { o.ExecutionMode = OnnxExecutionMode.Parallel; o.InterOpThreads = cores; })),
            new("graph optimizations: basic", () => With(o => o.GraphOptimizationLevel = OnnxGraphOptimizationLevel.Basic)),
            new("graph optimizations: extended", () => With(o => o.GraphOptimizationLevel = OnnxGraphOptimizationLevel.Extended)),
            new("graph optimizations: none", () => With(o => o.GraphOptimizationLevel = OnnxGraphOptimizationLevel.None)),
            new("memory arena off", () => With(o => o.EnableMemoryArena = false)),
            new("memory pattern off", () => With(o => o.EnableMemoryPattern = false)),
            new("spinning off", () => With(o => o.AllowSpinning = false)),
            new("denormals as zero", () => With(o => o.DenormalsAsZero = true)),
            new("1 intra-op thread, spinning off", () => With(o => { o.IntraOpThreads = 1; o.AllowSpinning = false; })),
            new($"{cores} intra-op threads, spinning off, denormals as zero", () => With(o => { o.IntraOpThreads = cores; o.AllowSpinning = false; o.DenormalsAsZero = true; })),
        };
        if (fp16 is { } f)
        {
            list.Add(new("float16 export (all float16)", Before, f.Full));
            list.Add(new("float16 weights, float32 compute", Before, f.Weights));
        }
        list.Add(new("after: the new defaults", () => new OnnxModelOptions()));
        return list;
    }

    private static OnnxSettingsCase RunCase(string label, string pipeline, string unetFile, TensorShape shape, int tokens, (string, string)? fp16, int rounds, Action<string> log)
    {
        var settings = Settings(fp16);
        var (sample, labels, hidden) = Inputs(shape, tokens);
        double[] timesteps = [999, 750, 500, 250, 1];
        var loaded = new List<(Setting Setting, OnnxDiffusionModel? Model, OnnxDenoiser? Denoiser, string? Error)>();
        try
        {
            foreach (var setting in settings)
            {
                try
                {
                    var model = OnnxDiffusionModel.Load(setting.File ?? pipeline, Bare(setting.Options(), setting.File));
                    loaded.Add((setting, model, (OnnxDenoiser)model.CreateDenoiser(), null));
                }
                catch (ModelLoadException e)
                {
                    var message = e.InnerException?.Message ?? e.Message;
                    loaded.Add((setting, null, null, message.Length > 300 ? message[..300] + "…" : message));
                    log($"onnx-settings: {label}: '{setting.Label}' does not load: {message}");
                }
            }

            if (loaded[0].Error is { } failed) throw new InvalidOperationException($"{unetFile} does not load with the previous defaults: {failed}");
            var output = new float[sample.Length];
            var baseline = new float[sample.Length];
            var step = 0;
            void Call(OnnxDenoiser denoiser, float[] into)
            {
                var input = new DenoiserInput(sample, shape, timesteps[step++ % timesteps.Length], labels, hidden);
                denoiser.Predict(input, into);
            }

            // Reference outputs, warm-up (arenas, memory patterns, the JIT), and the block length from the previous defaults' speed.
            var differences = new double[loaded.Count];
            step = 0;
            Call(loaded[0].Denoiser!, baseline);
            for (var i = 0; i < loaded.Count; i++)
            {
                if (loaded[i].Denoiser is not { } d) continue;
                step = 0;
                Call(d, output);
                differences[i] = MaxAbsDifference(output, baseline);
                Call(d, output);
            }
            var single = Time(() => Call(loaded[0].Denoiser!, output), 3) / 3;
            var calls = Math.Max(2, (int)Math.Ceiling(BlockSeconds / single));
            log($"onnx-settings: {label}, {shape}: {1 / single:F1} calls/s with the previous defaults; {calls} calls per block, {rounds} rounds of {loaded.Count(l => l.Denoiser is not null)} settings");

            var rates = loaded.Select(_ => new List<double>()).ToArray();
            for (var r = 0; r < rounds; r++)
            {
                for (var k = 0; k < loaded.Count; k++)
                {
                    var i = (k + r) % loaded.Count;
                    if (loaded[i].Denoiser is not { } d) continue;
                    Call(d, output); // one untimed call: this session's threads wake up, the previous session's go back to sleep
                    rates[i].Add(calls / Time(() => Call(d, output), calls));
                }
            }

            var rows = new List<OnnxSettingRow>();
            for (var i = 0; i < loaded.Count; i++)
            {
                if (loaded[i].Error is { } error)
                {
                    rows.Add(new OnnxSettingRow(loaded[i].Setting.Label, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, error));
                    continue;
                }
                var ratios = rates[i].Zip(rates[0], (a, b) => a / b).ToList();
                rows.Add(new OnnxSettingRow(loaded[i].Setting.Label, Stats.Round(Stats.Median(rates[i]), 2), Stats.Round(Stats.Quantile(rates[i], 0.25), 2),
                    Stats.Round(Stats.Quantile(rates[i], 0.75), 2), Stats.Round(Stats.Median(ratios), 3), differences[i]));
                log($"onnx-settings: {label}, {shape}: {rows[^1].Setting,-48} {rows[^1].CallsPerSecond,8:F1} calls/s ({rows[^1].CallsPerSecondLow:F1}–{rows[^1].CallsPerSecondHigh:F1}), " +
                    $"{rows[^1].RatioToBefore:F3}× before, max |Δ| {differences[i]:E1}");
            }
            var shown = unetFile.StartsWith(Repository.Root, StringComparison.Ordinal) ? Path.GetRelativePath(Repository.Root, unetFile) : unetFile;
            return new OnnxSettingsCase(label, shown, shape.ToString(), calls, rows);
        }
        finally
        {
            foreach (var (_, model, denoiser, _) in loaded)
            {
                denoiser?.Dispose();
                model?.Dispose();
            }
        }
    }

    // A bare float16 file has no scheduler configuration beside it; the benchmark needs none, but says so to quiet the warning.
    private static OnnxModelOptions Bare(OnnxModelOptions options, string? file)
    {
        if (file is null) return options;
        options.NumTrainTimesteps = 1000;
        options.PredictionType = Diffusion.Sdk.Abstractions.PredictionType.Epsilon;
        if (Path.GetFileName(file).StartsWith("digits", StringComparison.Ordinal))
        {
            options.UnconditionalLabel = 10;
            options.NumClasses = 10;
        }
        return options;
    }

    private static (float[] Sample, long[] Labels, float[] Hidden) Inputs(TensorShape shape, int tokens)
    {
        var sample = new float[shape.Length];
        var noise = new TorchGaussianNoise(11);
        noise.NextGaussian(sample);
        var labels = tokens > 0 ? Array.Empty<long>() : Enumerable.Range(0, shape.Batch).Select(i => (long)(i % 11)).ToArray();
        var hidden = new float[tokens > 0 ? shape.Batch * tokens * 32 : 0];
        noise.NextGaussian(hidden);
        return (sample, labels, hidden);
    }

    // The float16 (and fixed-channel float32) copies come from tools/fp16-export/to_fp16.py (python3-onnx), made once
    // into out/onnx-settings/.
    private static (string Float32, string Full, string Weights)? Convert(string unetFile, string name, int? channels, Action<string> log)
    {
        var folder = Repository.Path("out", "onnx-settings");
        Directory.CreateDirectory(folder);
        string File(string mode) => Path.Combine(folder, $"{name}-{mode}.onnx");
        foreach (var mode in new[] { "float32", "full", "weights" })
        {
            if (System.IO.File.Exists(File(mode)) || (mode == "float32" && channels is null)) continue;
            List<string> arguments = [Repository.Path("tools", "fp16-export", "to_fp16.py"), unetFile, File(mode), "--mode", mode];
            if (channels is { } c) arguments.AddRange(["--channels", c.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            // Debian's interpreter, which has python3-onnx, when there is one; else whatever python3 the path finds.
            var python = System.IO.File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
            var start = new ProcessStartInfo(python, arguments) { RedirectStandardError = true, RedirectStandardOutput = true };
            try
            {
                using var process = Process.Start(start)!;
                var error = process.StandardError.ReadToEnd();
                process.WaitForExit();
                if (process.ExitCode != 0) throw new InvalidOperationException(error);
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                log($"onnx-settings: no {mode} copy of {unetFile} ({e.Message.Trim()}); install python3-onnx to measure it.");
                return null;
            }
        }
        return (channels is null ? unetFile : File("float32"), File("full"), File("weights"));
    }

    private static double Time(Action call, int count)
    {
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++) call();
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private static double MaxAbsDifference(float[] a, float[] b)
    {
        var worst = 0.0;
        for (var i = 0; i < a.Length; i++) worst = Math.Max(worst, Math.Abs((double)a[i] - b[i]));
        return worst;
    }
}

/// <summary>Medians and quartiles (linear interpolation between order statistics).</summary>
internal static class Stats
{
    public static double Median(IReadOnlyList<double> values) => Quantile(values, 0.5);

    public static double Quantile(IReadOnlyList<double> values, double q)
    {
        var sorted = values.Order().ToArray();
        var position = q * (sorted.Length - 1);
        var low = (int)Math.Floor(position);
        var high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + (position - low) * (sorted[high] - sorted[low]);
    }

    public static double Round(double x, int digits) => Math.Round(x, digits);
}
