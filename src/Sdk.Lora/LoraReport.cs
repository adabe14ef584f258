using System.Globalization;
using System.Text;

namespace Diffusion.Sdk.Lora;

/// <summary>What happened to one module of an adapter.</summary>
/// <param name="Component">The model part: <c>unet</c>, <c>text_encoder</c>, <c>text_encoder_2</c>.</param>
/// <param name="Module">The module as the keys name it.</param>
/// <param name="Keys">Its keys in the file.</param>
/// <param name="Applied">Whether its update was merged.</param>
/// <param name="Initializer">The ONNX initializer it updates (when found).</param>
/// <param name="Node">The node that reads that initializer (when found).</param>
/// <param name="Transposed">Whether the export stores that weight transposed ([in, out]).</param>
/// <param name="Rank">The adapter's rank for this module (0 when not read).</param>
/// <param name="Scale">alpha / rank (or the format's equivalent), before the adapter's weight.</param>
/// <param name="ScaleSource">Where the scale came from.</param>
/// <param name="Reason">Why it was not applied (null when applied).</param>
public sealed record LoraModuleReport(string Component, string Module, IReadOnlyList<string> Keys, bool Applied, string? Initializer, string? Node,
    bool Transposed, int Rank, double Scale, string ScaleSource, string? Reason);

/// <summary>What happened to one adapter: every module, applied or not and why, and the keys of no module.</summary>
/// <param name="Adapter">The adapter as given.</param>
/// <param name="FilePath">Its full path.</param>
/// <param name="Format"><c>kohya</c>, <c>peft</c> or <c>mixed</c>.</param>
/// <param name="Modules">Every module, in key order.</param>
/// <param name="IgnoredKeys">Keys that belong to no module this SDK recognises, each with the reason.</param>
public sealed record LoraAdapterReport(LoraAdapter Adapter, string FilePath, string Format, IReadOnlyList<LoraModuleReport> Modules,
    IReadOnlyList<(string Key, string Reason)> IgnoredKeys)
{
    /// <summary>The modules that were merged.</summary>
    public IEnumerable<LoraModuleReport> Applied => Modules.Where(m => m.Applied);

    /// <summary>The modules that were not, each with <see cref="LoraModuleReport.Reason"/>.</summary>
    public IEnumerable<LoraModuleReport> NotApplied => Modules.Where(m => !m.Applied);
}

/// <summary>What a set of adapters did to a model: one <see cref="LoraAdapterReport"/> per adapter, in order.</summary>
public sealed class LoraReport
{
    /// <summary>Creates the report.</summary>
    public LoraReport(IReadOnlyList<LoraAdapterReport> adapters) => Adapters = adapters;

    /// <summary>An empty report: no adapters.</summary>
    public static LoraReport None { get; } = new([]);

    /// <summary>Every adapter.</summary>
    public IReadOnlyList<LoraAdapterReport> Adapters { get; }

    /// <summary>The weights that will be overridden, per model part: initializer names.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> OverriddenInitializers { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>One line per adapter, then one per module not applied and per key ignored.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var a in Adapters)
        {
            var applied = a.Applied.GroupBy(m => m.Component).Select(g => $"{g.Key} {g.Count()}");
            text.Append(CultureInfo.InvariantCulture, $"LoRA {Path.GetFileName(a.FilePath)} ({a.Format}, weight {a.Adapter.Weight:R}): {a.Applied.Count()} of {a.Modules.Count} modules applied ({string.Join(", ", applied)})");
            if (a.IgnoredKeys.Count > 0) text.Append(CultureInfo.InvariantCulture, $", {a.IgnoredKeys.Count} keys ignored");
            text.AppendLine();
            foreach (var m in a.NotApplied) text.AppendLine(CultureInfo.InvariantCulture, $"  not applied: {m.Component} {m.Module} ({m.Keys[0]}): {m.Reason}");
            foreach (var (key, reason) in a.IgnoredKeys) text.AppendLine(CultureInfo.InvariantCulture, $"  ignored: {key}: {reason}");
        }
        return text.ToString().TrimEnd();
    }
}
