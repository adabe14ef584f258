using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Snapshots;
using Generate;

namespace Diffusion.Sdk.Tests.Examples;

/// <summary>
/// The README's main command (<c>dotnet run --project examples/Generate -c Release -- --out digits.png</c>) writes the
/// picture the README shows, docs/images/digits-grid.png: byte for byte on the machine that recorded it (its
/// fingerprint is in digits-grid.png.json), pixel by pixel within the CPU-kernel tolerance elsewhere.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class ReadmeGridTests
{
    private static readonly SnapshotStore DocsImages = SnapshotStore.BesideSource("../../../docs/images");

    /// <summary>What the command runs with its defaults (the calibration repeats it through the pipeline).</summary>
    public static GenerationRequest ReadmeRequest() => new()
    {
        Sampling = new SamplingOptions { Sampler = "ddim", Steps = 20, GuidanceScale = 3 },
        BatchSize = 100, Seed = 0, ClassLabels = [.. Enumerable.Range(0, 100).Select(i => (long)(i / 10))],
    };

    [Test]
    public async Task TheMainCommandDrawsTheReadmePicture()
    {
        var folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "readme-grid-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var output = Path.Combine(folder, "digits.png");
            var (stdout, oldOut) = (new StringWriter(), Console.Out);
            Console.SetOut(stdout);
            int code;
            try { code = await GenerateCommand.InvokeAsync(["--out", output]); }
            finally { Console.SetOut(oldOut); }
            Assert.That(code, Is.Zero, stdout.ToString());
            DocsImages.MatchImage("digits-grid", File.ReadAllBytes(output), ImageTolerance.CpuKernels);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
