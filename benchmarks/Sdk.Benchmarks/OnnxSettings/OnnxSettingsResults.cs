using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
namespace Diffusion.Benchmarks.OnnxSettings;

/// <summary>One ONNX Runtime setting on one model: model calls per second, medians over the rounds.</summary>
/// <param name="Setting">What differs from the SDK's previous defaults (ONNX Runtime's own).</param>
/// <param name="CallsPerSecond">Median calls per second over the rounds.</param>
/// <param name="CallsPerSecondLow">Lower quartile.</param>
/// <param name="CallsPerSecondHigh">Upper quartile.</param>
/// <param name="RatioToBefore">Median over rounds of this setting's calls per second ÷ the previous defaults' in the same round.</param>
/// <param name="MaxAbsDifference">Largest |output − previous defaults' output| on the same input (float16 rows: its rounding).</param>
/// <param name="Error">Why the setting could not be measured (the model does not load with it), else null.</param>
public sealed record OnnxSettingRow(string Setting, double CallsPerSecond, double CallsPerSecondLow, double CallsPerSecondHigh, double RatioToBefore,
    double MaxAbsDifference, string? Error = null);

/// <summary>All settings on one model and batch size.</summary>
/// <param name="Model">The model's label.</param>
/// <param name="Path">The model, relative to the repository when inside it.</param>
/// <param name="Shape">The sample shape of one call.</param>
/// <param name="CallsPerBlock">Calls timed back to back per setting and round.</param>
/// <param name="Rows">One row per setting; the first is the previous defaults, the last the new ones.</param>
public sealed record OnnxSettingsCase(string Model, string Path, string Shape, int CallsPerBlock, List<OnnxSettingRow> Rows);

/// <summary>An earlier run's headline: the new defaults against the previous ones, per case.</summary>
/// <param name="Date">When that run started.</param>
/// <param name="OtherCores">Cores other processes kept busy during it.</param>
/// <param name="AfterToBefore">Per case ("model, shape"), the median ratio of the new defaults to the previous ones.</param>
public sealed record OnnxSettingsEarlierRun(DateTimeOffset Date, double OtherCores, Dictionary<string, double> AfterToBefore);

/// <summary>The onnx-settings suite's numbers.</summary>
/// <param name="Rounds">Rounds per case; each times every setting once, in an order rotated from round to round.</param>
/// <param name="Cases">One per model and batch size.</param>
/// <param name="Seconds">The suite's wall time.</param>
public sealed record OnnxSettingsResult(int Rounds, List<OnnxSettingsCase> Cases, double Seconds)
{
    /// <summary>The headlines of up to five earlier runs (the same settings), oldest first, so that a repeat is visible.</summary>
    public List<OnnxSettingsEarlierRun> Earlier { get; init; } = [];

    /// <summary>This run's headline, for the next run's <see cref="Earlier"/>.</summary>
    public Dictionary<string, double> AfterToBefore() =>
        Cases.ToDictionary(k => $"{k.Model}, {k.Shape}", k => k.Rows[^1].RatioToBefore);
}
