using System.Text.Json;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Tests.Models;
using Microsoft.Extensions.Logging;

namespace Diffusion.Sdk.Tests.Onnx;

/// <summary>The closed-form test networks of <c>TestData/models/manifest.json</c>, as the ONNX loader tests see them.</summary>
public static class OnnxTestModels
{
    public const int Height = 4;
    public const int Width = 5;

    /// <summary>One manifest entry.</summary>
    public sealed record Spec(string File, string PredictionType, string DataKind, int Channels, Dictionary<string, (string Name, string Type, int Rank)> Inputs,
        string OutputName, string OutputType, int? FixedBatch, long? UnconditionalLabel)
    {
        public string Path => TestData.Path("models", File);
        public bool HasLabels => Inputs.ContainsKey("class_labels");
        public bool HasHiddenStates => Inputs.ContainsKey("encoder_hidden_states");
        public string TimestepType => Inputs["timestep"].Type;
        public string SampleType => Inputs["sample"].Type;

        /// <summary>The options a bare file needs: the manifest's prediction type, T = 1000, label 2 = unconditional for mixtures.</summary>
        public OnnxModelOptions Options() => new()
        {
            NumTrainTimesteps = ClosedFormReference.NumTrainTimesteps,
            PredictionType = ParsePredictionType(PredictionType),
            UnconditionalLabel = DataKind == "mixture" ? ClosedFormReference.UnconditionalLabel : null,
        };

        public override string ToString() => File;
    }

    private static readonly Lazy<Spec[]> All = new(Load);

    public static IReadOnlyList<Spec> Specs => All.Value;

    public static Spec Get(string file) => All.Value.Single(s => s.File == file);

    /// <summary>Test-case source: every model file in the manifest.</summary>
    public static IEnumerable<TestCaseData> Files()
    {
        if (!System.IO.File.Exists(TestData.Path("models", "manifest.json")))
        {
            yield return new TestCaseData("manifest.json").SetName("manifest.json missing");
            yield break;
        }
        foreach (var spec in All.Value) yield return new TestCaseData(spec.File).SetArgDisplayNames(spec.File);
    }

    public static PredictionType ParsePredictionType(string name) => name switch
    {
        "epsilon" => Diffusion.Sdk.Abstractions.PredictionType.Epsilon,
        "sample" => Diffusion.Sdk.Abstractions.PredictionType.Sample,
        "v_prediction" => Diffusion.Sdk.Abstractions.PredictionType.VPrediction,
        _ => throw new ArgumentException(name),
    };

    private static Spec[] Load()
    {
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllText(TestData.Path("models", "manifest.json")));
        return doc.RootElement.GetProperty("models").EnumerateArray().Select(m =>
        {
            var inputs = m.GetProperty("inputs").EnumerateArray().ToDictionary(
                i => i.GetProperty("role").GetString()!,
                i => (i.GetProperty("name").GetString()!, i.GetProperty("type").GetString()!, i.GetProperty("shape").GetArrayLength()));
            var fixedBatch = m.GetProperty("fixed_batch");
            var unconditional = m.GetProperty("unconditional_label");
            return new Spec(
                m.GetProperty("file").GetString()!,
                m.GetProperty("prediction_type").GetString()!,
                m.GetProperty("data").GetProperty("kind").GetString()!,
                m.GetProperty("channels").GetInt32(),
                inputs,
                m.GetProperty("output").GetProperty("name").GetString()!,
                m.GetProperty("output").GetProperty("type").GetString()!,
                fixedBatch.ValueKind == JsonValueKind.Number ? fixedBatch.GetInt32() : null,
                unconditional.ValueKind == JsonValueKind.Number ? unconditional.GetInt64() : null);
        }).ToArray();
    }

    /// <summary>A request: x_t drawn from the forward process of the model's data at <paramref name="timestep"/>.</summary>
    public sealed record Request(float[] Sample, TensorShape Shape, double Timestep, long[] Labels, float[] HiddenStates)
    {
        public DenoiserInput Input => new(Sample, Shape, Timestep, Labels, HiddenStates);
    }

    public static Request MakeRequest(Spec spec, int batch, double timestep, int seed, bool labels = true)
    {
        var rng = new Random(seed);
        var shape = new TensorShape(batch, spec.Channels, Height, Width);
        var c = ClosedFormReference.At(timestep);
        var x = new float[shape.Length];
        for (var b = 0; b < batch; b++)
        {
            var mu = spec.DataKind == "mixture" ? ClosedFormReference.MixtureMu[b % 2] : ClosedFormReference.GaussianMu;
            var s = spec.DataKind == "mixture" ? ClosedFormReference.MixtureS : ClosedFormReference.GaussianS;
            for (var e = 0; e < shape.ItemLength; e++)
                x[b * shape.ItemLength + e] = (float)(c.SqrtAlphaBar * (mu + s * Gaussian(rng)) + c.SqrtOneMinusAlphaBar * Gaussian(rng));
        }
        // Labels cycle 0, 1, 2 (2 = unconditional for the mixtures).
        var labelValues = labels && spec.HasLabels ? Enumerable.Range(0, batch).Select(b => (long)(b % 3)).ToArray() : [];
        var hidden = spec.HasHiddenStates ? Enumerable.Range(0, batch * 77 * 8).Select(_ => (float)Gaussian(rng)).ToArray() : [];
        return new Request(x, shape, timestep, labelValues, hidden);
    }

    /// <summary>The timestep the model receives for <paramref name="timestep"/>: rounded for integer inputs, through float16 for float16 inputs.</summary>
    public static double FedTimestep(Spec spec, double timestep) => spec.TimestepType switch
    {
        "int64" or "int32" => Math.Round(timestep, MidpointRounding.AwayFromZero),
        "float16" => (double)(float)(Half)(float)timestep,
        _ => (float)timestep,
    };

    /// <summary>What the network should output for <paramref name="request"/>, in double.</summary>
    public static double[] Expected(Spec spec, Request request)
    {
        var fedX = spec.SampleType == "float16"
            ? request.Sample.Select(v => (double)(float)(Half)v).ToArray()
            : request.Sample.Select(v => (double)v).ToArray();
        var t = Enumerable.Repeat(FedTimestep(spec, request.Timestep), request.Shape.Batch).ToArray();
        return ClosedFormReference.Predict(spec.DataKind, spec.PredictionType, fedX, request.Shape.Batch, t, request.Labels);
    }

    /// <summary>Largest error: absolute for float32 outputs, relative to max(1, |expected|) for float16 ones.</summary>
    public static double WorstError(Spec spec, ReadOnlySpan<float> actual, double[] expected)
    {
        var worst = 0.0;
        for (var i = 0; i < expected.Length; i++)
        {
            var error = Math.Abs(actual[i] - expected[i]);
            if (spec.OutputType == "float16") error /= Math.Max(1, Math.Abs(expected[i]));
            if (double.IsNaN(error)) return double.NaN;
            worst = Math.Max(worst, error);
        }
        return worst;
    }

    public static double Tolerance(Spec spec) => spec.OutputType == "float16" || spec.SampleType == "float16" ? 1e-2 : 1e-5;

    public static double Gaussian(Random rng)
    {
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>A temporary folder, deleted on dispose.</summary>
    public sealed class TempFolder : IDisposable
    {
        public TempFolder() => Directory.CreateDirectory(Path);

        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "diffusion-onnx-" + Guid.NewGuid().ToString("N"));

        public string File(string relative, string? text = null)
        {
            var path = System.IO.Path.Combine(Path, relative);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
            if (text is not null) System.IO.File.WriteAllText(path, text);
            return path;
        }

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Collects log entries.</summary>
    public sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];
        public IEnumerable<string> Warnings => Entries.Where(e => e.Level == LogLevel.Warning).Select(e => e.Message);
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Entries) Entries.Add((logLevel, formatter(state, exception)));
        }
    }
}
