using Diffusion.Sdk.Abstractions;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Diffusion.Sdk.Lora;

/// <summary>
/// The peft <c>LoraConfig</c> of one model part, as diffusers' <c>save_lora_weights</c> stores it in the file's
/// <c>lora_adapter_metadata</c> (keys flattened as <c>unet.lora_alpha</c>, <c>text_encoder.r</c>, …): the scale of
/// a module is <c>lora_alpha / r</c> (or <c>/ sqrt(r)</c> under rsLoRA), with <c>alpha_pattern</c> and
/// <c>rank_pattern</c> overriding per module as peft matches them (a pattern matches a module whose name is it,
/// or ends with <c>.</c> + it, as a regular expression).
/// </summary>
internal sealed class PeftConfig
{
    // LoraConfig's defaults, for a stored config that leaves a field out.
    private const double DefaultAlpha = 8, DefaultRank = 8;

    private readonly Dictionary<string, double> _alphaPattern;
    private readonly Dictionary<string, double> _rankPattern;

    private PeftConfig(string component, double alpha, double rank, bool rsLora, bool dora, Dictionary<string, double> alphaPattern, Dictionary<string, double> rankPattern)
    {
        Component = component;
        Alpha = alpha;
        Rank = rank;
        RsLora = rsLora;
        Dora = dora;
        _alphaPattern = alphaPattern;
        _rankPattern = rankPattern;
    }

    public string Component { get; }

    public double Alpha { get; }

    public double Rank { get; }

    public bool RsLora { get; }

    public bool Dora { get; }

    /// <summary>The configs of every model part in the file's <c>lora_adapter_metadata</c>; empty when it has none.</summary>
    /// <exception cref="LoraAdapterException">The metadata is not a JSON object or a field has the wrong type.</exception>
    public static Dictionary<string, PeftConfig> Read(IReadOnlyDictionary<string, string> metadata, string file)
    {
        var configs = new Dictionary<string, PeftConfig>(StringComparer.Ordinal);
        if (!metadata.TryGetValue("lora_adapter_metadata", out var text)) return configs;
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(text);
            root = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new LoraAdapterException(file, "__metadata__.lora_adapter_metadata", "is not valid JSON.", e);
        }
        if (root.ValueKind != JsonValueKind.Object)
            throw new LoraAdapterException(file, "__metadata__.lora_adapter_metadata", "is not a JSON object.");
        JsonText.EnsureValid(root, problem => new LoraAdapterException(file, "__metadata__.lora_adapter_metadata", problem + "."));
        var components = root.EnumerateObject().Select(p => p.Name).Where(n => n.Contains('.')).Select(n => n[..n.LastIndexOf('.')]).Distinct();
        foreach (var component in components)
        {
            configs[component] = new PeftConfig(component,
                Number(root, component, "lora_alpha", file) ?? DefaultAlpha,
                Number(root, component, "r", file) ?? DefaultRank,
                Bool(root, component, "use_rslora", file),
                Bool(root, component, "use_dora", file),
                Pattern(root, component, "alpha_pattern", file),
                Pattern(root, component, "rank_pattern", file));
        }
        return configs;
    }

    /// <summary>The rank peft would build <paramref name="module"/> with.</summary>
    public double RankOf(string module) => Match(_rankPattern, module) ?? Rank;

    /// <summary>The alpha of <paramref name="module"/> and where it came from.</summary>
    public (double Alpha, string Source) AlphaOf(string module) =>
        Match(_alphaPattern, module) is { } a ? (a, $"lora_adapter_metadata {Component}.alpha_pattern") : (Alpha, $"lora_adapter_metadata {Component}.lora_alpha");

    private static double? Match(Dictionary<string, double> patterns, string module)
    {
        foreach (var (pattern, value) in patterns)
        {
            try
            {
                if (Regex.IsMatch(module, $"^(?:.*\\.)?(?:{pattern})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1))) return value;
            }
            catch (ArgumentException)
            {
                if (module == pattern || module.EndsWith("." + pattern, StringComparison.Ordinal)) return value;
            }
        }
        return null;
    }

    private static double? Number(JsonElement root, string component, string field, string file)
    {
        if (!root.TryGetProperty($"{component}.{field}", out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return value.ValueKind == JsonValueKind.Number && value.GetDouble() is var d && double.IsFinite(d) && d > 0 ? d
            : throw new LoraAdapterException(file, $"__metadata__.lora_adapter_metadata[{component}.{field}]", $"is {value.GetRawText()}; expected a positive number.");
    }

    private static bool Bool(JsonElement root, string component, string field, string file)
    {
        if (!root.TryGetProperty($"{component}.{field}", out var value) || value.ValueKind == JsonValueKind.Null) return false;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new LoraAdapterException(file, $"__metadata__.lora_adapter_metadata[{component}.{field}]", $"is {value.GetRawText()}; expected true or false."),
        };
    }

    private static Dictionary<string, double> Pattern(JsonElement root, string component, string field, string file)
    {
        var patterns = new Dictionary<string, double>(StringComparer.Ordinal);
        if (!root.TryGetProperty($"{component}.{field}", out var value) || value.ValueKind == JsonValueKind.Null) return patterns;
        if (value.ValueKind != JsonValueKind.Object)
            throw new LoraAdapterException(file, $"__metadata__.lora_adapter_metadata[{component}.{field}]", $"is {value.GetRawText()}; expected an object of module patterns to numbers.");
        foreach (var p in value.EnumerateObject())
            patterns[p.Name] = p.Value.ValueKind == JsonValueKind.Number && p.Value.GetDouble() is var d && double.IsFinite(d) && d > 0 ? d
                : throw new LoraAdapterException(file, $"__metadata__.lora_adapter_metadata[{component}.{field}][{p.Name}]", $"is {p.Value.GetRawText()}; expected a positive number.");
        return patterns;
    }
}
