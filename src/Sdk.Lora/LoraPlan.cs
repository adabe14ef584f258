using System.Globalization;
using Diffusion.Sdk.Lora.OnnxGraph;

namespace Diffusion.Sdk.Lora;

/// <summary>
/// Which weight of which model part each adapter module updates, checked before any session exists: every adapter
/// is read and checked, every module mapped onto the export's weights (<see cref="WeightTargetIndex"/>), every
/// update's shape compared with its weight's. <see cref="Merge"/> then computes a part's merged weights,
/// W' = W + Σ over adapters of weight · scale · (up · down), transposed where the export stores the transpose.
/// </summary>
public sealed class LoraPlan
{
    private sealed record Contribution(LoraModule Module, double Weight);

    private sealed class PlannedWeight(WeightTarget target, OnnxModelGraph graph)
    {
        public WeightTarget Target { get; } = target;
        public OnnxModelGraph Graph { get; } = graph;
        public List<Contribution> Contributions { get; } = [];
    }

    private readonly Dictionary<string, List<PlannedWeight>> _weights;

    private LoraPlan(LoraReport report, Dictionary<string, List<PlannedWeight>> weights)
    {
        Report = report;
        _weights = weights;
    }

    /// <summary>What was applied and what was not, and why.</summary>
    public LoraReport Report { get; }

    /// <summary>The model parts that get at least one changed weight (adapters of weight 0 change none).</summary>
    public IReadOnlyCollection<string> TouchedComponents => _weights.Where(kv => kv.Value.Count > 0).Select(kv => kv.Key).ToList();

    /// <summary>
    /// Maps <paramref name="adapters"/> onto the ONNX files of a model's parts.
    /// </summary>
    /// <param name="adapters">The adapters, in order, with their weights.</param>
    /// <param name="components">Each part the adapters may update (<c>unet</c>, <c>text_encoder</c>, <c>text_encoder_2</c>) and its <c>model.onnx</c>.</param>
    /// <exception cref="SafeTensors.SafeTensorsException">An adapter file is missing, truncated or corrupt, or holds an unknown dtype.</exception>
    /// <exception cref="LoraAdapterException">A module is incomplete or has a rank mismatch; an update's shape differs from its weight's (an adapter made for another architecture); nothing in an adapter matches the model.</exception>
    /// <exception cref="Diffusion.Sdk.Abstractions.ModelLoadException">A model file cannot be read as ONNX.</exception>
    public static LoraPlan Create(IReadOnlyList<LoraAdapter> adapters, IReadOnlyDictionary<string, string> components)
    {
        ArgumentNullException.ThrowIfNull(adapters);
        ArgumentNullException.ThrowIfNull(components);
        var files = adapters.Select(LoraAdapterFile.Read).ToList();
        var indexes = new Dictionary<string, WeightTargetIndex>(StringComparer.Ordinal);
        var weights = new Dictionary<string, List<PlannedWeight>>(StringComparer.Ordinal);
        var byInitializer = new Dictionary<(string, string), PlannedWeight>();
        var reports = new List<LoraAdapterReport>();
        foreach (var file in files)
        {
            var modules = new List<LoraModuleReport>();
            foreach (var module in file.Modules)
            {
                var report = Map(file, module, components, indexes, out var target);
                modules.Add(report);
                if (!report.Applied) continue;
                if (!byInitializer.TryGetValue((module.Component, target!.Initializer.Name), out var planned))
                {
                    planned = new PlannedWeight(target, indexes[module.Component].Graph);
                    byInitializer.Add((module.Component, target.Initializer.Name), planned);
                }
                planned.Contributions.Add(new Contribution(module, file.Adapter.Weight));
            }
            if (modules.Count(m => m.Applied) == 0)
            {
                var example = modules.FirstOrDefault();
                var why = example is null
                    ? file.IgnoredKeys.Count > 0 ? $"none of its {file.IgnoredKeys.Count} keys is a LoRA key this SDK reads (e.g. '{file.IgnoredKeys[0].Key}': {file.IgnoredKeys[0].Reason})" : "it holds no tensors"
                    : $"none of its {modules.Count} modules matches a weight of this model (e.g. '{example.Keys[0]}': {example.Reason}). Was it made for another model architecture?";
                throw new LoraAdapterException(file.FilePath, example?.Keys[0], $"nothing in it can be applied: {why}");
            }
            reports.Add(new LoraAdapterReport(file.Adapter, file.FilePath, file.Format, modules, file.IgnoredKeys.Select(k => (k.Key, k.Reason ?? "")).ToList()));
        }
        foreach (var ((component, _), planned) in byInitializer)
        {
            // Adapters of weight 0 change nothing: such a weight keeps the export's own values, bit for bit.
            if (planned.Contributions.All(c => c.Weight == 0)) continue;
            if (!weights.TryGetValue(component, out var list)) weights[component] = list = [];
            list.Add(planned);
        }
        var overridden = weights.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string>)kv.Value.Select(p => p.Target.Initializer.Name).ToList());
        return new LoraPlan(new LoraReport(reports) { OverriddenInitializers = overridden }, weights);
    }

    /// <summary>
    /// A key that is equal for two plans exactly when they give <paramref name="component"/> the same weights: the
    /// adapters (file, size, time written) and weights that change it. A session built for one serves the other.
    /// </summary>
    public string Signature(string component)
    {
        if (!_weights.TryGetValue(component, out var list) || list.Count == 0) return "";
        var parts = Report.Adapters
            .Where(a => a.Adapter.Weight != 0 && a.Applied.Any(m => m.Component == component))
            .Select(a =>
            {
                var info = new FileInfo(a.FilePath);
                return string.Create(CultureInfo.InvariantCulture, $"{a.FilePath}|{info.Length}|{info.LastWriteTimeUtc.Ticks}|{a.Adapter.Weight:R}");
            });
        return string.Join("\n", parts);
    }

    /// <summary>The merged weights of <paramref name="component"/> (none when no adapter changes it).</summary>
    /// <exception cref="Diffusion.Sdk.Abstractions.ModelLoadException">A weight's data cannot be read from the export.</exception>
    public IReadOnlyList<MergedWeight> Merge(string component)
    {
        if (!_weights.TryGetValue(component, out var list)) return [];
        var merged = new List<MergedWeight>(list.Count);
        foreach (var planned in list)
        {
            var target = planned.Target;
            var values = planned.Graph.ReadSingle(target.Initializer);
            foreach (var (module, weight) in planned.Contributions)
            {
                if (weight == 0) continue;
                var c = (float)(weight * module.Scale);
                var rows = checked((int)module.OutFeatures);
                var cols = checked((int)module.InFeatures);
                if (target.Layout == WeightLayout.Torch)
                    LowRankUpdate.Add(values, rows, cols, module.UpValues, module.DownValues, module.Rank, c);
                else
                    LowRankUpdate.Add(values, cols, rows, LowRankUpdate.Transpose(module.DownValues, module.Rank, cols), LowRankUpdate.Transpose(module.UpValues, rows, module.Rank), module.Rank, c);
            }
            merged.Add(new MergedWeight(target.Initializer.Name, values, target.Initializer.Dims, target.Initializer.DataType));
        }
        return merged;
    }

    private static LoraModuleReport Map(LoraAdapterFile file, LoraModule module, IReadOnlyDictionary<string, string> components,
        Dictionary<string, WeightTargetIndex> indexes, out WeightTarget? target)
    {
        target = null;
        LoraModuleReport NotApplied(string reason, WeightTarget? t = null) =>
            new(module.Component, module.Name, module.Keys, false, t?.Initializer.Name, t?.Node.Name, t?.Layout == WeightLayout.Transposed, module.Rank, module.Scale, module.ScaleSource, reason);
        if (module.Unsupported is { } unsupported) return NotApplied(unsupported);
        if (!components.TryGetValue(module.Component, out var onnxFile)) return NotApplied($"this model has no {module.Component} to merge into");
        if (!indexes.TryGetValue(module.Component, out var index))
            indexes[module.Component] = index = new WeightTargetIndex(OnnxModelGraph.Read(onnxFile));
        var found = index.Find(module.Tokens, out var problem);
        if (found is null)
        {
            var hint = module.Tokens.Length > 0 && module.Tokens[0] is "input" or "middle" or "output"
                ? " (the key uses the original LDM/SGM block names, input_blocks/middle_block/output_blocks, which this SDK does not map yet; convert the adapter to diffusers names)" : "";
            return NotApplied($"{problem} in {Path.GetFileName(Path.GetDirectoryName(onnxFile))}/{Path.GetFileName(onnxFile)}{hint}");
        }
        if (found.Problem is { } cannot) return NotApplied($"its weight cannot be overridden: {cannot}", found);

        var moduleKernel = module.Kernel.Aggregate(1L, (a, d) => a * d);
        var targetKernel = found.Kernel.Aggregate(1L, (a, d) => a * d);
        var kernelsAgree = moduleKernel == targetKernel && (module.Kernel.Length == 0 || found.Kernel.Length == 0 || module.Kernel.SequenceEqual(found.Kernel));
        if (found.Out != module.OutFeatures || found.In != module.InFeatures || !kernelsAgree)
        {
            var update = module.Kernel.Length == 0 ? $"[{module.OutFeatures}, {module.InFeatures}]" : $"[{module.OutFeatures}, {module.Down!.Shape[1]}, {string.Join(", ", module.Kernel)}]";
            throw new LoraAdapterException(file.FilePath, module.MainKey,
                $"its update is {update} (up {module.Up!.ShapeText} · down {module.Down!.ShapeText}), but the weight it maps to, '{found.Initializer.Name}' " +
                $"{found.Initializer.ShapeText}{(found.Layout == WeightLayout.Transposed ? " (stored transposed, [in, out])" : "")} read by {found.Node.Name}, " +
                $"is [{found.Out}, {found.In}{(found.Kernel.Length > 0 ? " with kernel " + string.Join("×", found.Kernel) : "")}]. The adapter was made for another model architecture (e.g. SD 2.x or SDXL rather than this one).");
        }
        target = found;
        return new LoraModuleReport(module.Component, module.Name, module.Keys, true, found.Initializer.Name, found.Node.Name,
            found.Layout == WeightLayout.Transposed, module.Rank, module.Scale, module.ScaleSource, null);
    }
}
