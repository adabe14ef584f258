using System.Text.Json;
using System.Text.Json.Serialization;

namespace Diffusion.Sdk.Snapshots;

/// <summary>The JSON beside an approved image (<c>name.png.json</c>).</summary>
internal sealed class ImageRecord
{
    public string? Fingerprint { get; set; }
    public string? Sha256 { get; set; }
    public int Width { get; set; }
    public int Height { get; set; }
    public int Channels { get; set; }
}

/// <summary>An approved (or actual) tensor (<c>name.tensor.json</c>).</summary>
internal sealed class TensorRecord
{
    public string? Fingerprint { get; set; }
    public int Length { get; set; }
    public string? Sha256 { get; set; }
    public double Min { get; set; }
    public double Max { get; set; }
    public double Mean { get; set; }
    public double Std { get; set; }
    public float[]? Values { get; set; }
}

internal static class SnapshotJson
{
    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static T? Read<T>(string path) where T : class
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Options);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The snapshot file {path} is not valid: {e.Message}. Restore it from version control or accept again with {SnapshotStore.AcceptVariable}=1.", e);
        }
    }

    public static void Write<T>(string path, T value) =>
        AtomicFile.Write(path, System.Text.Encoding.UTF8.GetBytes(JsonSerializer.Serialize(value, Options) + "\n"));
}
