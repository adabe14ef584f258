using System.Text.Json;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>Reads the few values the pipeline needs from a component's <c>config.json</c> (Optimum layout; absent in the legacy one).</summary>
internal sealed class ComponentConfig
{
    private readonly JsonElement _root;

    private ComponentConfig(string file, JsonElement root)
    {
        File = file;
        _root = root;
    }

    public string File { get; }

    /// <summary>The config beside a component's model, or null when there is none.</summary>
    public static ComponentConfig? TryRead(string folder, string component) => TryReadFile(Path.Combine(folder, component, "config.json"));

    /// <summary>A JSON object file (a component's <c>config.json</c>, the folder's <c>model_index.json</c>), or null when there is none.</summary>
    public static ComponentConfig? TryReadFile(string file)
    {
        if (!System.IO.File.Exists(file)) return null;
        try
        {
            // Python's json module may write bare NaN/Infinity: quote them first, as for scheduler configurations.
            var text = SchedulerConfigJson.QuoteNonFiniteLiterals(
                BoundedFile.ReadAllText(file, SchedulerConfigJson.MaxFileBytes, problem => new ModelLoadException($"{file} could not be read: {problem}.")));
            using var document = JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException($"{file} holds a JSON {document.RootElement.ValueKind.ToString().ToLowerInvariant()}; expected an object.");
            JsonText.EnsureValid(document.RootElement, problem => new ModelLoadException($"{file}: {problem}."));
            return new ComponentConfig(file, document.RootElement.Clone());
        }
        catch (JsonException e)
        {
            throw new ModelLoadException($"{file} is not valid JSON (line {e.LineNumber + 1}): {e.Message}", e);
        }
    }

    public double? Number(string key)
    {
        if (!_root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && double.IsFinite(d)) return d;
        throw new ModelLoadException($"{File}: '{key}' = {v.GetRawText()}; expected a finite number.");
    }

    public int? Integer(string key)
    {
        var d = Number(key);
        if (d is null) return null;
        return d == Math.Floor(d.Value) && d is >= int.MinValue and <= int.MaxValue ? (int)d.Value
            : throw new ModelLoadException($"{File}: '{key}' = {d}; expected an integer.");
    }

    public bool? Boolean(string key)
    {
        if (!_root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ModelLoadException($"{File}: '{key}' = {v.GetRawText()}; expected true or false."),
        };
    }

    public string? String(string key) =>
        _root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>The length of an array value (e.g. <c>block_out_channels</c>), or null.</summary>
    public int? ArrayLength(string key) =>
        _root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Array ? v.GetArrayLength() : null;
}
