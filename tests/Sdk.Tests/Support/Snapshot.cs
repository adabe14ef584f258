using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Diffusion.Pipeline;

namespace Diffusion.Tests.Support;

/// <summary>
/// Approved-output snapshots: each named output is kept in <c>tests/Sdk.Tests/Snapshots/*.json</c> as the SHA-256 of
/// its PNG bytes plus summary statistics of its tensor, and every run must reproduce them (hash exactly, statistics to
/// 1e-6). To accept a deliberate change, run the tests with <c>DIFFUSION_ACCEPT_SNAPSHOTS=1</c>: the files are
/// rewritten with the new values (review the diff, then commit them).
/// </summary>
public static class Snapshot
{
    private static readonly Lock Gate = new();

    public static bool Accepting => Environment.GetEnvironmentVariable("DIFFUSION_ACCEPT_SNAPSHOTS") == "1";

    public static void Match(string file, string name, byte[] png, ReadOnlySpan<float> tensor, [CallerFilePath] string caller = "")
    {
        var stats = TensorChecksForTests.Statistics(tensor);
        var actual = new JsonObject
        {
            ["png_sha256"] = Convert.ToHexStringLower(SHA256.HashData(png)),
            ["min"] = stats.Min, ["max"] = stats.Max, ["mean"] = stats.Mean, ["std"] = stats.Std,
        };
        // The snapshot files live in the source tree, next to this file's folder.
        var path = Path.Combine(Path.GetDirectoryName(caller)!, "..", "Snapshots", file);
        lock (Gate)
        {
            var all = File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path))!.AsObject() : new JsonObject();
            if (Accepting)
            {
                all[name] = actual;
                var sorted = new JsonObject(all.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone())));
                File.WriteAllText(path, sorted.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
                return;
            }
            if (all[name] is not JsonObject expected)
            {
                Assert.Fail($"No snapshot '{name}' in {file}. Run the tests with DIFFUSION_ACCEPT_SNAPSHOTS=1 to record it, review, and commit.");
                return;
            }
            Assert.Multiple(() =>
            {
                foreach (var key in new[] { "min", "max", "mean", "std" })
                    Assert.That(actual[key]!.GetValue<float>(), Is.EqualTo(expected[key]!.GetValue<float>()).Within(1e-6), $"{name}: {key}");
                Assert.That(actual["png_sha256"]!.GetValue<string>(), Is.EqualTo(expected["png_sha256"]!.GetValue<string>()),
                    $"{name}: PNG bytes changed. If deliberate, accept with DIFFUSION_ACCEPT_SNAPSHOTS=1 and commit the snapshot file.");
            });
        }
    }
}

/// <summary>The statistics the snapshots record (the same definition the pipeline reports).</summary>
internal static class TensorChecksForTests
{
    public static TensorStatistics Statistics(ReadOnlySpan<float> x)
    {
        double sum = 0, squares = 0;
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (var v in x)
        {
            sum += v;
            squares += (double)v * v;
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        var mean = sum / x.Length;
        return new TensorStatistics(min, max, (float)mean, (float)Math.Sqrt(Math.Max(squares / x.Length - mean * mean, 0)));
    }
}
