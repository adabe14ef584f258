using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Benchmarks.Quality;
using Diffusion.Benchmarks.Steps;
using ScottPlot;

namespace Diffusion.Benchmarks.Report;

/// <summary>The report's figures (ScottPlot 5 on SkiaSharp, PNG). Log axes are drawn as log10 of the values with 10^k labels.</summary>
public static class Plots
{
    private static readonly ScottPlot.Palettes.Category10 Palette = new();

    private static Color ColorOf(string sampler) =>
        Palette.GetColor(Math.Max(0, SamplerVariant.All.Select(v => v.Key).ToList().IndexOf(sampler)));

    /// <summary>Sliced W1 against NFE, log–log, one line per sampler, with the exact-vs-exact floor.</summary>
    public static void MixtureQuality(MixtureQualityResult mixture, string path)
    {
        var plot = new Plot();
        plot.Title($"Closed-form mixture: distance to the data vs network evaluations ({mixture.Samples:N0} samples)", size: 15);
        plot.XLabel("NFE (network evaluations per sample, log scale)", size: 13);
        plot.YLabel("sliced Wasserstein-1 (log scale)", size: 13);
        foreach (var variant in SamplerVariant.All)
        {
            var points = mixture.Points.Where(p => p.Sampler == variant.Key).OrderBy(p => p.Nfe).ToArray();
            if (points.Length == 0) continue;
            var line = plot.Add.Scatter(points.Select(p => Math.Log10(p.Nfe)).ToArray(), points.Select(p => Math.Log10(p.Distance)).ToArray(), ColorOf(variant.Key));
            line.LegendText = variant.Label;
            line.LineWidth = 2;
            line.MarkerSize = 6;
            line.LinePattern = PatternOf(variant);
        }
        var floor = plot.Add.HorizontalLine(Math.Log10(mixture.FloorMean), 1.5f, Colors.Gray, LinePattern.Dashed);
        floor.LegendText = "noise floor (exact vs exact)";
        var ddpm = plot.Add.HorizontalLine(Math.Log10(1.1 * mixture.Ddpm1000Distance), 1f, Colors.Black, LinePattern.Dotted);
        ddpm.LegendText = "1.1 × DDPM-1000";
        LogAxis(plot.Axes.Bottom, integerTicks: false, mixture.NfeGrid.Select(n => (double)n).ToArray());
        LogAxis(plot.Axes.Left, integerTicks: true);
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 1100, 700);
    }

    /// <summary>Accuracy and Fréchet distance against NFE on the digits model, side by side.</summary>
    public static void DigitsQuality(DigitsQualityResult digits, string path)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        var accuracy = multiplot.GetPlot(0);
        var frechet = multiplot.GetPlot(1);
        accuracy.Title($"Digits, guidance {digits.Guidance:0.#}: classifier accuracy", size: 14);
        frechet.Title($"Digits, guidance {digits.Guidance:0.#}: Fréchet distance to real digits", size: 14);
        foreach (var plot in new[] { accuracy, frechet }) plot.XLabel("NFE (denoiser calls per sample)", size: 12);
        accuracy.YLabel("accuracy (%)", size: 12);
        frechet.YLabel($"Fréchet distance ({digits.SamplesPerPoint} samples)", size: 12);
        foreach (var variant in SamplerVariant.All)
        {
            var points = digits.Points.Where(p => p.Sampler == variant.Key).OrderBy(p => p.Nfe).ToArray();
            if (points.Length == 0) continue;
            var xs = points.Select(p => (double)p.Nfe).ToArray();
            var a = accuracy.Add.Scatter(xs, points.Select(p => 100 * p.Accuracy).ToArray(), ColorOf(variant.Key));
            a.LegendText = variant.Label;
            a.LineWidth = 2;
            a.LinePattern = PatternOf(variant);
            var f = frechet.Add.Scatter(xs, points.Select(p => p.Frechet).ToArray(), ColorOf(variant.Key));
            f.LineWidth = 2;
            f.LinePattern = PatternOf(variant);
        }
        var ticks = digits.NfeGrid.Select(n => new Tick(n, n.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToArray();
        foreach (var plot in new[] { accuracy, frechet })
        {
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
            plot.Axes.SetLimitsX(digits.NfeGrid.Min() - 1, digits.NfeGrid.Max() + 1);
        }
        accuracy.Axes.SetLimitsY(Math.Min(90, digits.Points.Min(p => 100 * p.Accuracy) - 2), 101);
        accuracy.ShowLegend(Alignment.LowerRight);
        accuracy.Legend.FontSize = 11;
        multiplot.SavePng(path, 1300, 700);
    }

    /// <summary>Step ÷ floor per sampler and shape, with the target line at 3.</summary>
    public static void StepCost(StepCostResult steps, string path)
    {
        var plot = new Plot();
        plot.Title("Cost of one sampler step ÷ a copy of the bytes it must move (same run)", size: 15);
        plot.YLabel("step time ÷ floor time", size: 13);
        var shapes = steps.Rows.Select(r => r.Shape).Distinct().ToArray();
        var ticks = new List<Tick>();
        var position = 0.0;
        foreach (var variant in SamplerVariant.All)
        {
            for (var s = 0; s < shapes.Length; s++)
            {
                if (steps.Rows.SingleOrDefault(r => r.Sampler == variant.Key && r.Shape == shapes[s]) is not { } row) continue;
                plot.Add.Bar(new Bar
                {
                    Position = position + s * 0.4, Value = row.Ratio, Size = 0.38,
                    FillColor = s == 0 ? ColorOf(variant.Key) : ColorOf(variant.Key).WithAlpha(0.5),
                });
            }
            ticks.Add(new Tick(position + 0.2, variant.Label));
            position += 1.2;
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
        plot.Axes.Bottom.TickLabelStyle.Rotation = 30;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 120;
        var target = plot.Add.HorizontalLine(3, 1.5f, Colors.Red, LinePattern.Dashed);
        target.LegendText = "target ≤ 3";
        plot.Axes.Margins(bottom: 0);
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = $"solid: {shapes.ElementAtOrDefault(0)}, faded: {shapes.ElementAtOrDefault(1)}" });
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 1100, 600);
    }

    // Samplers that are the same method in another parametrisation (Euler = DDIM, Euler ancestral = DDPM for ε models)
    // draw the same line: dashes keep both visible.
    private static LinePattern PatternOf(SamplerVariant variant) =>
        variant.SchedulerType is "euler" or "euler-ancestral" || variant.Spacing is not null ? LinePattern.Dashed : LinePattern.Solid;

    private static void LogAxis(ScottPlot.IAxis axis, bool integerTicks, double[]? values = null)
    {
        if (values is not null)
        {
            axis.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
                values.Select(v => new Tick(Math.Log10(v), v.ToString("0", System.Globalization.CultureInfo.InvariantCulture))).ToArray());
            return;
        }
        axis.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            IntegerTicksOnly = integerTicks,
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            LabelFormatter = y => FormattableString.Invariant($"1e{y:0}"),
        };
    }
}
