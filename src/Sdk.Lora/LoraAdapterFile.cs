using Diffusion.Sdk.Lora.SafeTensors;

namespace Diffusion.Sdk.Lora;

/// <summary>
/// An adapter file read and checked, before any model is touched: its keys grouped into modules, each module's
/// halves present, of rank-compatible shapes, finite, and its scale worked out by the file's format's rule
/// (kohya: the module's <c>.alpha</c> / rank, or 1 without one; PEFT: the stored LoraConfig's <c>lora_alpha / r</c>,
/// or 1 without metadata, as diffusers assumes).
/// </summary>
internal sealed class LoraAdapterFile
{
    private LoraAdapterFile(LoraAdapter adapter, string path, string format, List<LoraModule> modules, List<LoraKey> ignored)
    {
        Adapter = adapter;
        FilePath = path;
        Format = format;
        Modules = modules;
        IgnoredKeys = ignored;
    }

    public LoraAdapter Adapter { get; }

    /// <summary>The full path of the file.</summary>
    public string FilePath { get; }

    /// <summary><c>kohya</c>, <c>peft</c> or <c>mixed</c>.</summary>
    public string Format { get; }

    /// <summary>The modules, in the order of their first key.</summary>
    public IReadOnlyList<LoraModule> Modules { get; }

    /// <summary>Keys that belong to no module this reader recognises (with the reason in each).</summary>
    public IReadOnlyList<LoraKey> IgnoredKeys { get; }

    /// <summary>Reads and checks <paramref name="adapter"/>'s file.</summary>
    /// <exception cref="SafeTensorsException">The file is missing, truncated or corrupt, or a tensor has an unknown dtype.</exception>
    /// <exception cref="LoraAdapterException">A module is incomplete, has a rank mismatch, a shape the merge cannot use, or non-finite values.</exception>
    public static LoraAdapterFile Read(LoraAdapter adapter)
    {
        ArgumentNullException.ThrowIfNull(adapter);
        if (string.IsNullOrWhiteSpace(adapter.Path)) throw new ArgumentException("A LoRA adapter needs a file path.", nameof(adapter));
        if (!double.IsFinite(adapter.Weight)) throw new LoraAdapterException(adapter.Path, null, $"the weight {adapter.Weight} is not a finite number.");
        var path = Path.GetFullPath(adapter.Path);
        if (!File.Exists(path)) throw new SafeTensorsException(path, null, "the adapter file does not exist.");
        var file = SafeTensorsFile.Open(path);
        var peft = PeftConfig.Read(file.Header.Metadata, path);

        var modules = new Dictionary<(string, string), LoraModule>();
        var ordered = new List<LoraModule>();
        var ignored = new List<LoraKey>();
        bool anyKohya = false, anyDotted = false;
        foreach (var info in file.Header.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            var key = LoraKeys.Parse(info.Name);
            if (key.Role == LoraKeyRole.Unknown || key.Component is null)
            {
                ignored.Add(key);
                continue;
            }
            if (key.Kohya) anyKohya = true; else anyDotted = true;
            if (!modules.TryGetValue((key.Component, key.Module), out var module))
            {
                module = new LoraModule(key.Component, key.Module, key.Tokens, key.Kohya);
                modules.Add((key.Component, key.Module), module);
                ordered.Add(module);
            }
            module.Keys.Add(info.Name);
            switch (key.Role)
            {
                case LoraKeyRole.Down: module.Down = info; break;
                case LoraKeyRole.Up: module.Up = info; break;
                case LoraKeyRole.Alpha: module.Alpha = info; break;
                default: module.Unsupported ??= key.Reason; break;
            }
        }
        foreach (var module in ordered)
        {
            if (module.Unsupported is null && !module.Kohya && peft.TryGetValue(module.Component, out var config) && config.Dora)
                module.Unsupported = $"DoRA (use_dora in the {module.Component} config) is not supported";
            if (module.Unsupported is null) Load(module, file, peft);
        }
        var format = anyKohya && anyDotted ? "mixed" : anyKohya ? "kohya" : "peft";
        return new LoraAdapterFile(adapter, path, format, ordered, ignored);
    }

    private static void Load(LoraModule module, SafeTensorsFile file, Dictionary<string, PeftConfig> peft)
    {
        var path = file.FilePath;
        if (module.Down is null || module.Up is null)
        {
            var (has, lacks) = module.Down is null ? ("an up projection", "no down projection (lora_down / lora_A)") : ("a down projection", "no up projection (lora_up / lora_B)");
            throw new LoraAdapterException(path, module.Keys[0], $"module '{module.Name}' has {has} but {lacks}: the file is incomplete.");
        }
        var down = module.Down.Shape;
        var up = module.Up.Shape;
        if (down.Length is not (2 or 4))
            throw new LoraAdapterException(path, module.Down.Name, $"the down projection is {module.Down.ShapeText}; expected [rank, in] or [rank, in, kh, kw].");
        if (up.Length is not (2 or 4) || up.Skip(2).Any(d => d != 1))
            throw new LoraAdapterException(path, module.Up.Name, $"the up projection is {module.Up.ShapeText}; expected [out, rank] or [out, rank, 1, 1].");
        if (down[0] != up[1])
            throw new LoraAdapterException(path, module.Down.Name, $"rank mismatch: the down projection {module.Down.ShapeText} has rank {down[0]}, the up projection '{module.Up.Name}' {module.Up.ShapeText} has rank {up[1]}.");
        if (down[0] == 0 || down.Any(d => d == 0) || up[0] == 0)
            throw new LoraAdapterException(path, module.Down.Name, $"the module is empty (down {module.Down.ShapeText}, up {module.Up.ShapeText}).");
        module.Rank = checked((int)down[0]);
        module.DownValues = Finite(file, module.Down);
        module.UpValues = Finite(file, module.Up);

        if (module.Alpha is { } alphaInfo)
        {
            if (alphaInfo.ElementCount != 1)
                throw new LoraAdapterException(path, alphaInfo.Name, $"alpha is {alphaInfo.ShapeText}; expected a single number.");
            var alpha = Finite(file, alphaInfo)[0];
            module.Scale = alpha / (double)module.Rank;
            module.ScaleSource = $"{alphaInfo.Name} = {alpha} / rank {module.Rank}";
        }
        else if (!module.Kohya && peft.TryGetValue(module.Component, out var config))
        {
            var rank = config.RankOf(module.Name);
            if (rank != module.Rank)
                throw new LoraAdapterException(path, module.Down.Name, $"rank mismatch: the file's {module.Component} config (lora_adapter_metadata) gives module '{module.Name}' r = {rank}, its tensors have rank {module.Rank}.");
            var (alpha, source) = config.AlphaOf(module.Name);
            module.Scale = config.RsLora ? alpha / Math.Sqrt(rank) : alpha / rank;
            module.ScaleSource = $"{source} = {alpha} / {(config.RsLora ? $"sqrt(r = {rank})" : $"r = {rank}")}";
        }
        else
        {
            module.Scale = 1;
            module.ScaleSource = module.Kohya ? "no alpha: alpha = rank" : "no metadata: lora_alpha = r, as diffusers assumes";
        }
    }

    private static float[] Finite(SafeTensorsFile file, SafeTensorInfo info)
    {
        var values = file.ReadSingle(info);
        for (var i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
                throw new LoraAdapterException(file.FilePath, info.Name, $"value {i} is {values[i]}; an adapter must hold finite numbers.");
        return values;
    }
}
