using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Buffers.Binary;
using ScheduleExplorer;
using SkiaSharp;

namespace Diffusion.Sdk.Tests.Examples;

[TestFixture]
public sealed class ScheduleExplorerTests
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("schedule-explorer-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public void RendersTheFigureAndTheTables()
    {
        var options = new ExplorerOptions
        {
            OutputDirectory = Path.Combine(_folder, "out"),
            Karras = true,
            ZeroTerminalSnr = true,
            Timesteps = [0, 10, 100, 500, 999],
        };
        var output = Explorer.Run(options);

        // The PNG: signature, IHDR dimensions, a plausible size.
        var png = File.ReadAllBytes(output.Png);
        Assert.Multiple(() =>
        {
            Assert.That(png.AsSpan(0, 8).ToArray(), Is.EqualTo(PngSignature), "PNG signature");
            Assert.That(System.Text.Encoding.ASCII.GetString(png, 12, 4), Is.EqualTo("IHDR"));
            Assert.That(BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), Is.EqualTo(ScheduleFigure.DefaultWidth), "width");
            Assert.That(BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)), Is.EqualTo(ScheduleFigure.DefaultHeight), "height");
            Assert.That(png.Length, Is.InRange(20_000, 5_000_000), "bytes");
        });

        // Every panel has coloured curves in it (each plot clears only its own rectangle).
        using (var bitmap = SKBitmap.Decode(output.Png))
        {
            var panelWidth = (bitmap.Width - 270) / 2;
            var panelHeight = bitmap.Height / 2;
            for (var panel = 0; panel < 4; panel++)
            {
                int left = panel % 2 * panelWidth, top = panel / 2 * panelHeight;
                var coloured = 0;
                for (var y = top; y < top + panelHeight; y += 2)
                    for (var x = left; x < left + panelWidth; x += 2)
                    {
                        var c = bitmap.GetPixel(x, y);
                        if (Math.Max(Math.Abs(c.Red - c.Green), Math.Abs(c.Green - c.Blue)) > 60) coloured++;
                    }
                Assert.That(coloured, Is.GreaterThan(500), $"coloured pixels in panel {panel}");
            }
        }

        var svg = File.ReadAllText(output.Svg);
        Assert.That(svg, Does.Contain("<svg").And.Contain("</svg>"));

        // The CSV: header, one row per schedule (6 families × base, Karras, zero-SNR) and timestep, all fields present.
        var lines = File.ReadAllLines(output.Csv);
        Assert.That(lines[0].Split(','), Is.EqualTo(ScheduleTable.Columns));
        Assert.That(lines.Length - 1, Is.EqualTo(6 * 3 * 5));
        Assert.Multiple(() =>
        {
            foreach (var line in lines.Skip(1)) Assert.That(line.Split(','), Has.Length.EqualTo(ScheduleTable.Columns.Count), line);
        });
        var linearAt500 = lines.Single(l => l.StartsWith("linear,500,", StringComparison.Ordinal)).Split(',');
        var schedule = ScheduleCatalog.Create("linear", 1000);
        Assert.That(double.Parse(linearAt500[4], System.Globalization.CultureInfo.InvariantCulture), Is.EqualTo(schedule.AlphasCumprod[500]), "alpha_bar round-trips");
        Assert.That(lines.Single(l => l.StartsWith("cosine + zero-SNR,999,", StringComparison.Ordinal)), Does.Contain(",-inf,"), "log-SNR at zero terminal SNR");

        Assert.That(File.ReadAllLines(output.Markdown), Has.Length.EqualTo(2 + 6 * 3 * 5));
    }

    [Test]
    public void BaseSchedulesOnlyByDefault()
    {
        var schedules = ScheduleCatalog.Build(ScheduleCatalog.Names, 1000, karras: false, zeroTerminalSnr: false);
        Assert.That(schedules.Select(s => s.Label), Is.EqualTo(new[] { "linear", "cosine", "sigmoid", "quadratic", "exponential", "scaled-linear" }));
        Assert.That(ExplorerOptions.DefaultTimesteps(1000), Is.EqualTo(new[] { 0, 10, 100, 500, 999 }));
        Assert.That(ExplorerOptions.DefaultTimesteps(50), Is.EqualTo(new[] { 0, 5, 25, 49 }));
    }

    [Test]
    public void KarrasVariantKeepsTheSigmaRangeAndFollowsEquationFive()
    {
        var linear = ScheduleCatalog.Create("linear", 1000);
        var karras = ScheduleCatalog.KarrasSpaced(linear);
        var expected = Diffusion.Sdk.Sampling.SigmaMath.Karras(linear.Sigmas[0], linear.Sigmas[999], 1000);
        Assert.Multiple(() =>
        {
            Assert.That(karras.Sigmas[0], Is.EqualTo(linear.Sigmas[0]).Within(1e-9 * linear.Sigmas[0]));
            Assert.That(karras.Sigmas[999], Is.EqualTo(linear.Sigmas[999]).Within(1e-6 * linear.Sigmas[999]));
            Assert.That(karras.Sigmas[300], Is.EqualTo(expected[699]).Within(1e-6 * expected[699]));
        });
    }

    [Test]
    public void UnknownScheduleAndOutOfRangeTimestepAreRejected()
    {
        Assert.Throws<ArgumentException>(() => ScheduleCatalog.Build(["linear", "cosh"], 1000, false, false));
        var options = new ExplorerOptions { OutputDirectory = _folder, Schedules = ["linear"], Timesteps = [1000] };
        Assert.Throws<ArgumentOutOfRangeException>(() => Explorer.Run(options));
    }
}
