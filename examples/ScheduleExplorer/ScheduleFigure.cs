using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using ScottPlot;
using SkiaSharp;

namespace ScheduleExplorer;

/// <summary>
/// The explorer's figure: four panels over the training timestep t — ᾱ_t, log-SNR, β_t (log scale) and SNR (log
/// scale) — one colour per schedule family (the same in every figure), solid for the base schedule, dashed for its Karras variant and dotted for
/// its zero-terminal-SNR variant, with one legend for all panels on the right.
/// </summary>
/// <remarks>
/// Drawn with ScottPlot 5 onto one SkiaSharp canvas: the panels get the same fixed padding so their data areas line
/// up. Log scales are drawn as log10 of the values with ticks labelled 10^k; points that are 0 or not finite on a
/// panel's scale (the last SNR of a zero-terminal-SNR schedule) are left out of that panel.
/// </remarks>
public static class ScheduleFigure
{
    /// <summary>Default width of the figure in pixels.</summary>
    public const int DefaultWidth = 1600;

    /// <summary>Default height of the figure in pixels.</summary>
    public const int DefaultHeight = 1000;

    private const int LegendWidth = 270;
    private static readonly PixelPadding PanelPadding = new(left: 80, right: 20, bottom: 55, top: 40);

    /// <summary>Writes the figure as a PNG file.</summary>
    public static void SavePng(IReadOnlyList<NamedSchedule> schedules, string path, int width = DefaultWidth, int height = DefaultHeight)
    {
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var surface = SKSurface.Create(info) ?? throw new InvalidOperationException("SkiaSharp could not create a raster surface.");
        Draw(schedules, surface.Canvas, width, height);
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        using var file = File.Create(path);
        data.SaveTo(file);
    }

    /// <summary>Writes the figure as an SVG file.</summary>
    public static void SaveSvg(IReadOnlyList<NamedSchedule> schedules, string path, int width = DefaultWidth, int height = DefaultHeight)
    {
        using var file = File.Create(path);
        using (var canvas = SKSvgCanvas.Create(new SKRect(0, 0, width, height), file))
        {
            Draw(schedules, canvas, width, height);
        }   // the SVG is completed when the canvas is disposed
    }

    private static void Draw(IReadOnlyList<NamedSchedule> schedules, SKCanvas canvas, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(schedules);
        if (schedules.Count == 0) throw new ArgumentException("Nothing to draw.", nameof(schedules));
        canvas.Clear(SKColors.White);

        // A family keeps its colour in every figure: the colour follows its place in the catalogue.
        var palette = new ScottPlot.Palettes.Category10();
        var catalogue = ScheduleCatalog.Names.ToList();
        Color ColorOf(NamedSchedule s) => palette.GetColor(Math.Max(0, catalogue.IndexOf(s.Family)));

        var panels = new[]
        {
            Panel("Cumulative signal ᾱ_t", "ᾱ_t", schedules, ColorOf, s => s.AlphasCumprod, logScale: false),
            Panel("log-SNR(t) = log(ᾱ_t / (1 − ᾱ_t))", "log-SNR (natural log)", schedules, ColorOf, s => s.LogSnr, logScale: false),
            Panel("Noise added per step β_t", "β_t (log scale)", schedules, ColorOf, s => s.Betas, logScale: true),
            Panel("SNR(t) = ᾱ_t / (1 − ᾱ_t)", "SNR (log scale)", schedules, ColorOf, s => s.Snr, logScale: true),
        };
        var legend = Legend(schedules, ColorOf);

        float panelWidth = (width - LegendWidth) / 2f, panelHeight = height / 2f;
        for (var i = 0; i < panels.Length; i++)
        {
            float left = i % 2 * panelWidth, top = i / 2 * panelHeight;
            RenderClipped(panels[i], canvas, new PixelRect(left, left + panelWidth, top + panelHeight, top));
        }
        RenderClipped(legend, canvas, new PixelRect(width - LegendWidth, width, height, 0));
    }

    // A plot clears its background before drawing; the clip keeps that to its own rectangle.
    private static void RenderClipped(Plot plot, SKCanvas canvas, PixelRect rect)
    {
        canvas.Save();
        canvas.ClipRect(new SKRect(rect.Left, rect.Top, rect.Right, rect.Bottom));
        plot.Render(canvas, rect);
        canvas.Restore();
    }

    private static Plot Panel(string title, string yLabel, IReadOnlyList<NamedSchedule> schedules, Func<NamedSchedule, Color> colorOf,
        Func<NoiseSchedule, ReadOnlySpan<double>> quantity, bool logScale)
    {
        var plot = new Plot();
        plot.Title(title, size: 16);
        plot.XLabel("training timestep t", size: 14);
        plot.YLabel(yLabel, size: 14);
        plot.Layout.Fixed(PanelPadding);

        var lastTimestep = 0;
        foreach (var named in schedules)
        {
            var values = quantity(named.Schedule);
            var xs = new List<double>(values.Length);
            var ys = new List<double>(values.Length);
            for (var t = 0; t < values.Length; t++)
            {
                var y = logScale ? Math.Log10(values[t]) : values[t];
                if (!double.IsFinite(y)) continue;
                xs.Add(t);
                ys.Add(y);
            }
            lastTimestep = Math.Max(lastTimestep, values.Length - 1);
            var line = plot.Add.ScatterLine(xs.ToArray(), ys.ToArray(), colorOf(named));
            line.LineWidth = named.Variant == ScheduleVariant.Base ? 2 : 1.75f;
            line.LinePattern = PatternOf(named.Variant);
        }

        plot.Axes.SetLimitsX(0, lastTimestep);
        if (logScale)
        {
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
            {
                IntegerTicksOnly = true,
                MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
                LabelFormatter = y => FormattableString.Invariant($"1e{y:0}"),
            };
        }
        return plot;
    }

    private static Plot Legend(IReadOnlyList<NamedSchedule> schedules, Func<NamedSchedule, Color> colorOf)
    {
        var plot = new Plot();
        plot.HideAxesAndGrid();
        var items = schedules.Select(s => new LegendItem
        {
            LabelText = s.Label,
            LineColor = colorOf(s),
            LineWidth = 2.5f,
            LinePattern = PatternOf(s.Variant),
        }).ToList();
        plot.ShowLegend(items, Alignment.UpperLeft);
        plot.Legend.FontSize = 14;
        plot.Legend.SymbolWidth = 36;
        return plot;
    }

    private static LinePattern PatternOf(ScheduleVariant variant) => variant switch
    {
        ScheduleVariant.Karras => LinePattern.Dashed,
        ScheduleVariant.ZeroTerminalSnr => LinePattern.Dotted,
        _ => LinePattern.Solid,
    };
}
