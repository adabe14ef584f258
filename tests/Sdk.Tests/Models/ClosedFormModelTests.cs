using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using NUnit.Framework;

namespace Diffusion.Sdk.Tests.Models;

/// <summary>
/// Runs every closed-form test network listed in <c>TestData/models/manifest.json</c> through ONNX Runtime
/// and compares its output with <see cref="ClosedFormReference"/>.
/// </summary>
[TestFixture]
public class ClosedFormModelTests
{
    private const int Height = 4;
    private const int Width = 5;
    private const int DefaultBatch = 3;
    private const double Float32Tolerance = 1e-5;      // absolute
    private const double Float16Tolerance = 5e-3;      // relative to max(1, |reference|)

    private static string ModelsDirectory => Path.Combine(TestContext.CurrentContext.TestDirectory, "TestData", "models");

    private static string ManifestPathForDiscovery =>
        Path.Combine(Path.GetDirectoryName(typeof(ClosedFormModelTests).Assembly.Location)!, "TestData", "models", "manifest.json");

    public static IEnumerable<TestCaseData> ManifestModels()
    {
        if (!File.Exists(ManifestPathForDiscovery))
        {
            yield return new TestCaseData("manifest.json").SetName("ClosedFormModel(manifest.json missing)");
            yield break;
        }
        using var doc = JsonDocument.Parse(File.ReadAllText(ManifestPathForDiscovery));
        foreach (var model in doc.RootElement.GetProperty("models").EnumerateArray())
        {
            string file = model.GetProperty("file").GetString()!;
            yield return new TestCaseData(file).SetName($"ClosedFormModel({file})");
        }
    }

    private sealed record InputSpec(string Role, string Name, string Type, JsonElement[] Shape);

    private sealed record ModelSpec(
        string File, string PredictionType, string DataKind, int Channels,
        InputSpec[] Inputs, string OutputName, string OutputType, int? FixedBatch)
    {
        public InputSpec Input(string role) => Inputs.Single(i => i.Role == role);
        public InputSpec? OptionalInput(string role) => Inputs.SingleOrDefault(i => i.Role == role);
    }

    private static JsonDocument LoadManifest()
    {
        string path = Path.Combine(ModelsDirectory, "manifest.json");
        Assert.That(File.Exists(path), Is.True, $"missing {path} (TestData/** must be copied to the output folder)");
        return JsonDocument.Parse(File.ReadAllText(path));
    }

    private static ModelSpec LoadSpec(string file)
    {
        using var doc = LoadManifest();
        var m = doc.RootElement.GetProperty("models").EnumerateArray()
            .Single(e => e.GetProperty("file").GetString() == file);
        var inputs = m.GetProperty("inputs").EnumerateArray().Select(i => new InputSpec(
            i.GetProperty("role").GetString()!, i.GetProperty("name").GetString()!, i.GetProperty("type").GetString()!,
            i.GetProperty("shape").EnumerateArray().Select(e => e.Clone()).ToArray())).ToArray();
        var fixedBatch = m.GetProperty("fixed_batch");
        return new ModelSpec(
            file,
            m.GetProperty("prediction_type").GetString()!,
            m.GetProperty("data").GetProperty("kind").GetString()!,
            m.GetProperty("channels").GetInt32(),
            inputs,
            m.GetProperty("output").GetProperty("name").GetString()!,
            m.GetProperty("output").GetProperty("type").GetString()!,
            fixedBatch.ValueKind == JsonValueKind.Number ? fixedBatch.GetInt32() : null);
    }

    [Test]
    public void Manifest_ListsEveryModelFile()
    {
        using var doc = LoadManifest();
        var listed = doc.RootElement.GetProperty("models").EnumerateArray()
            .Select(e => e.GetProperty("file").GetString()!.Replace('/', Path.DirectorySeparatorChar)).ToHashSet();
        var onDisk = Directory.EnumerateFiles(ModelsDirectory, "*.onnx", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(ModelsDirectory, p)).ToHashSet();
        Assert.That(onDisk, Is.EquivalentTo(listed));
    }

    [TestCaseSource(nameof(ManifestModels))]
    public void ClosedFormModel_MatchesReference(string file)
    {
        var spec = LoadSpec(file);
        string path = Path.Combine(ModelsDirectory, file);
        Assert.That(File.Exists(path), Is.True, $"missing {path}");

        using var session = new InferenceSession(path);
        CheckMetadata(session, spec);

        int batch = spec.FixedBatch ?? DefaultBatch;
        int itemSize = spec.Channels * Height * Width;
        var sampleSpec = spec.Input("sample");
        var timestepSpec = spec.Input("timestep");
        var labelSpec = spec.OptionalInput("class_labels");
        var ehsSpec = spec.OptionalInput("encoder_hidden_states");
        bool integerTimestep = timestepSpec.Type is "int64" or "int32";
        bool perItemTimestep = timestepSpec.Shape.Length == 1 && !IsFixed(timestepSpec.Shape[0], 1);

        double mid = integerTimestep ? 500 : 500.5;
        double quarter = integerTimestep ? 250 : 250.25;
        var runs = new List<(double[] T, long[] Labels)>();
        if (perItemTimestep)
        {
            // Latin square over (t, label): every timestep meets every label.
            double[] ts = { 0, 999, mid };
            long[] labels = { 0, 1, 2 };
            for (int shift = 0; shift < 3; shift++)
                runs.Add((Enumerable.Range(0, batch).Select(b => ts[(b + shift) % 3]).ToArray(),
                          Enumerable.Range(0, batch).Select(b => labels[(b + 2 * shift) % 3]).ToArray()));
            runs.Add((Enumerable.Range(0, batch).Select(b => new[] { quarter, 1.0, 998.0 }[b % 3]).ToArray(),
                      Enumerable.Range(0, batch).Select(b => (long)((b + 1) % 3)).ToArray()));
        }
        else
        {
            foreach (double t in new[] { 0, 999, mid, quarter })
                runs.Add((Enumerable.Repeat(t, batch).ToArray(), Enumerable.Range(0, batch).Select(b => (long)(b % 3)).ToArray()));
        }

        double worst = 0;
        int seed = 1234;
        foreach (var (tRequested, labels) in runs)
        {
            var rng = new Random(seed++);
            // x_t drawn from the forward process of the model's own data (item b from component b % 2).
            var x = new double[batch * itemSize];
            for (int b = 0; b < batch; b++)
            {
                var c = ClosedFormReference.At(tRequested[b]);
                double mu = spec.DataKind == "mixture" ? ClosedFormReference.MixtureMu[b % 2] : ClosedFormReference.GaussianMu;
                double s = spec.DataKind == "mixture" ? ClosedFormReference.MixtureS : ClosedFormReference.GaussianS;
                for (int e = 0; e < itemSize; e++)
                    x[b * itemSize + e] = c.SqrtAlphaBar * (mu + s * Gaussian(rng)) + c.SqrtOneMinusAlphaBar * Gaussian(rng);
            }

            var inputs = new Dictionary<string, OrtValue>();
            try
            {
                long[] sampleShape = { batch, spec.Channels, Height, Width };
                inputs[sampleSpec.Name] = CreateFloatTensor(sampleSpec.Type, x, sampleShape, out double[] xFed);
                long[] tShape = timestepSpec.Shape.Length == 0 ? Array.Empty<long>() : perItemTimestep ? new long[] { batch } : new long[] { 1 };
                double[] tValues = perItemTimestep ? tRequested : new[] { tRequested[0] };
                inputs[timestepSpec.Name] = CreateTimestepTensor(timestepSpec.Type, tValues, tShape, out double[] tFed);
                if (labelSpec != null)
                    inputs[labelSpec.Name] = OrtValue.CreateTensorValueFromMemory(labels, new long[] { batch });
                if (ehsSpec != null)
                {
                    var ehs = new float[batch * 77 * 8];
                    for (int i = 0; i < ehs.Length; i++) ehs[i] = (float)Gaussian(rng);
                    inputs[ehsSpec.Name] = OrtValue.CreateTensorValueFromMemory(ehs, new long[] { batch, 77, 8 });
                }

                double[] tPerItem = perItemTimestep ? tFed : Enumerable.Repeat(tFed[0], batch).ToArray();
                double[] expected = ClosedFormReference.Predict(spec.DataKind, spec.PredictionType, xFed, batch, tPerItem, labels);

                using var runOptions = new RunOptions();
                using var outputs = session.Run(runOptions, inputs, new[] { spec.OutputName });
                var output = outputs[0];
                Assert.That(output.GetTensorTypeAndShape().Shape, Is.EqualTo(sampleShape), $"{file}: output shape");
                double[] actual = ReadFloatTensor(spec.OutputType, output);

                for (int i = 0; i < expected.Length; i++)
                {
                    double err = Math.Abs(actual[i] - expected[i]);
                    if (spec.OutputType == "float16") err /= Math.Max(1.0, Math.Abs(expected[i]));
                    worst = Math.Max(worst, err);
                    double tol = spec.OutputType == "float16" ? Float16Tolerance : Float32Tolerance;
                    if (!(err <= tol))
                    {
                        int b = i / itemSize;
                        Assert.Fail($"{file}: item {b} (t = {tPerItem[b]}, label = {labels[b]}) element {i % itemSize}: " +
                                    $"got {actual[i]}, expected {expected[i]} (error {err:G3} > {tol:G3})");
                    }
                }
            }
            finally
            {
                foreach (var v in inputs.Values) v.Dispose();
            }
        }
        TestContext.Out.WriteLine($"{file}: max error {worst:G3} over {runs.Count} runs");
    }

    private static void CheckMetadata(InferenceSession session, ModelSpec spec)
    {
        Assert.That(session.InputMetadata.Keys, Is.EquivalentTo(spec.Inputs.Select(i => i.Name)), $"{spec.File}: input names");
        Assert.That(session.OutputMetadata.Keys, Is.EqualTo(new[] { spec.OutputName }), $"{spec.File}: output names");
        foreach (var input in spec.Inputs)
        {
            var meta = session.InputMetadata[input.Name];
            Assert.That(meta.ElementDataType, Is.EqualTo(ElementType(input.Type)), $"{spec.File}: type of {input.Name}");
            var expectedDims = input.Shape.Select(d => d.ValueKind == JsonValueKind.Number ? d.GetInt32() : -1).ToArray();
            Assert.That(meta.Dimensions, Is.EqualTo(expectedDims), $"{spec.File}: shape of {input.Name}");
        }
        Assert.That(session.OutputMetadata[spec.OutputName].ElementDataType, Is.EqualTo(ElementType(spec.OutputType)));
    }

    private static bool IsFixed(JsonElement dim, int value) => dim.ValueKind == JsonValueKind.Number && dim.GetInt32() == value;

    private static TensorElementType ElementType(string type) => type switch
    {
        "float32" => TensorElementType.Float,
        "float16" => TensorElementType.Float16,
        "int64" => TensorElementType.Int64,
        "int32" => TensorElementType.Int32,
        _ => throw new ArgumentException(type),
    };

    /// <summary>Creates a float32/float16 tensor; <paramref name="fed"/> is what the model actually receives.</summary>
    private static OrtValue CreateFloatTensor(string type, double[] values, long[] shape, out double[] fed)
    {
        switch (type)
        {
            case "float32":
                var f32 = Array.ConvertAll(values, v => (float)v);
                fed = Array.ConvertAll(f32, v => (double)v);
                return OrtValue.CreateTensorValueFromMemory(f32, shape);
            case "float16":
                var f16 = Array.ConvertAll(values, v => (Float16)(float)v);
                fed = Array.ConvertAll(f16, v => (double)(float)v);
                return OrtValue.CreateTensorValueFromMemory(f16, shape);
            default:
                throw new ArgumentException(type);
        }
    }

    private static OrtValue CreateTimestepTensor(string type, double[] values, long[] shape, out double[] fed)
    {
        switch (type)
        {
            case "int64":
                var i64 = Array.ConvertAll(values, v => (long)v);
                fed = Array.ConvertAll(i64, v => (double)v);
                return OrtValue.CreateTensorValueFromMemory(i64, shape);
            case "int32":
                var i32 = Array.ConvertAll(values, v => (int)v);
                fed = Array.ConvertAll(i32, v => (double)v);
                return OrtValue.CreateTensorValueFromMemory(i32, shape);
            default:
                return CreateFloatTensor(type, values, shape, out fed);
        }
    }

    private static double[] ReadFloatTensor(string type, OrtValue value) => type switch
    {
        "float32" => value.GetTensorDataAsSpan<float>().ToArray().Select(v => (double)v).ToArray(),
        "float16" => value.GetTensorDataAsSpan<Float16>().ToArray().Select(v => (double)(float)v).ToArray(),
        _ => throw new ArgumentException(type),
    };

    private static double Gaussian(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble();
        double u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
