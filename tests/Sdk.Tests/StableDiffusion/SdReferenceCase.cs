using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Text.Json;

namespace Diffusion.Sdk.Tests.StableDiffusion;

/// <summary>One <c>expected/&lt;case&gt;.json</c> of a Stable Diffusion fixture (see TestData/sd-tiny-legacy/README.md).</summary>
public sealed class SdReferenceCase
{
    private SdReferenceCase(string file, JsonElement root)
    {
        File = file;
        Root = root;
    }

    public string File { get; }

    public JsonElement Root { get; }

    public string Name => Root.GetProperty("case").GetString()!;

    public string Folder => Path.GetDirectoryName(File)!;

    public JsonElement Inputs => Root.GetProperty("inputs");

    public string Prompt => Inputs.GetProperty("prompt").GetString()!;

    public string? NegativePrompt => Inputs.GetProperty("negative_prompt").GetString();

    public int Steps => Inputs.GetProperty("num_inference_steps").GetInt32();

    public double GuidanceScale => Inputs.GetProperty("guidance_scale").GetDouble();

    public ulong Seed => Inputs.GetProperty("seed").GetUInt64();

    public int Width => Inputs.GetProperty("width").GetInt32();

    public int Height => Inputs.GetProperty("height").GetInt32();

    public double? Strength => Inputs.TryGetProperty("strength", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetDouble() : null;

    public bool IsImageToImage => Root.TryGetProperty("img2img", out var i) && i.ValueKind == JsonValueKind.Object;

    public string SchedulerClass => Root.GetProperty("scheduler").GetProperty("class").GetString()!;

    public bool UsesShippedScheduler => Root.GetProperty("scheduler").GetProperty("how").GetString()!.StartsWith("shipped", StringComparison.Ordinal);

    public double[] Timesteps => Root.GetProperty("scheduler").GetProperty("timesteps").EnumerateArray().Select(e => e.GetDouble()).ToArray();

    public int[] PromptIds => Ids("prompt_input_ids");

    public int[]? NegativeIds => Root.GetProperty("tokens").TryGetProperty("negative_input_ids", out var n) && n.ValueKind == JsonValueKind.Array ? Ids("negative_input_ids") : null;

    private int[] Ids(string key) => Root.GetProperty("tokens").GetProperty(key).EnumerateArray().Select(e => e.GetInt32()).ToArray();

    public static float[] Values(JsonElement tensor) => tensor.GetProperty("values").EnumerateArray().Select(e => e.GetSingle()).ToArray();

    public static int[] Shape(JsonElement tensor) => tensor.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();

    public float[] Tensor(params string[] path)
    {
        var e = Root;
        foreach (var p in path) e = e.GetProperty(p);
        return Values(e);
    }

    public IReadOnlyList<JsonElement> StepsRecorded => Root.GetProperty("steps").EnumerateArray().ToList();

    public IReadOnlyList<JsonElement> RandomDraws => Root.GetProperty("random_draws").EnumerateArray().ToList();

    public byte[] ImagePng => System.IO.File.ReadAllBytes(Path.Combine(Folder, Root.GetProperty("image_png").GetString()!));

    public byte[]? InputPng => IsImageToImage ? System.IO.File.ReadAllBytes(Path.Combine(Folder, Root.GetProperty("img2img").GetProperty("input_image_png").GetString()!)) : null;

    public static SdReferenceCase Load(string file)
    {
        using var document = JsonDocument.Parse(System.IO.File.ReadAllText(file));
        return new SdReferenceCase(file, document.RootElement.Clone());
    }

    /// <summary>Every case file of a fixture's <c>expected/</c> folder.</summary>
    public static IEnumerable<string> Files(string fixture) =>
        Directory.Exists(Path.Combine(fixture, "expected"))
            ? Directory.GetFiles(Path.Combine(fixture, "expected"), "*.json").Order(StringComparer.Ordinal)
            : [];
}
