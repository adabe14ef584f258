using System.Text.Json;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusion;

namespace Diffusion.Sdk.Tests.StableDiffusionXL;

/// <summary>One <c>expected/&lt;case&gt;.json</c> of the SDXL fixture (see TestData/sdxl-tiny-optimum/README.md): one stage, or a base and a refiner stage.</summary>
public sealed class SdxlReferenceCase
{
    private SdxlReferenceCase(string file, JsonElement root)
    {
        File = file;
        Root = root;
        Stages = root.TryGetProperty("stages", out var stages)
            ? stages.EnumerateArray().Select(s => new SdxlStage(this, s)).ToList()
            : [new SdxlStage(this, root)];
    }

    public string File { get; }

    public JsonElement Root { get; }

    public string Folder => Path.GetDirectoryName(File)!;

    public ulong Seed => Root.GetProperty("seed").GetUInt64();

    /// <summary>The pipeline calls, in order (one generator runs through all of them).</summary>
    public IReadOnlyList<SdxlStage> Stages { get; }

    public static SdxlReferenceCase Load(string file)
    {
        using var document = JsonDocument.Parse(System.IO.File.ReadAllText(file));
        return new SdxlReferenceCase(file, document.RootElement.Clone());
    }
}

/// <summary>One pipeline call of a case.</summary>
public sealed class SdxlStage(SdxlReferenceCase owner, JsonElement root)
{
    public SdxlReferenceCase Case { get; } = owner;

    public JsonElement Root { get; } = root;

    /// <summary>The model folder, relative to the fixture (<c>model</c>, or the refiner's).</summary>
    public string ModelFolder => Path.GetFullPath(Path.Combine(Case.Folder, "..", Root.GetProperty("model").GetString()!));

    public JsonElement Inputs => Root.GetProperty("inputs");

    public bool IsImageToImage => Root.GetProperty("pipeline").GetString()!.Contains("Img2Img", StringComparison.Ordinal);

    public string? Text(string key) => Inputs.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public double? Number(string key) => Inputs.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    public int[]? Pair(string key) => Inputs.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Array ? v.EnumerateArray().Select(e => e.GetInt32()).ToArray() : null;

    public IReadOnlyList<string> Prompts => Inputs.GetProperty("prompt") is { ValueKind: JsonValueKind.Array } list
        ? list.EnumerateArray().Select(e => e.GetString()!).ToList() : [Text("prompt")!];

    public int ClipSkip => (int)(Number("clip_skip") ?? 0);

    public int ImagesPerPrompt => (int)(Number("num_images_per_prompt") ?? 1);

    public double GuidanceScale => Number("guidance_scale") ?? 5.0;

    public bool Guided => Root.GetProperty("classifier_free_guidance").GetBoolean();

    public string SchedulerClass => Root.GetProperty("scheduler").GetProperty("class").GetString()!;

    public JsonElement SchedulerConfig => Root.GetProperty("scheduler").GetProperty("config");

    public double[] Timesteps => Root.GetProperty("scheduler").GetProperty("timesteps").EnumerateArray().Select(e => e.GetDouble()).ToArray();

    /// <summary>The micro-conditioning the call passed (null members: the reference's defaults).</summary>
    public MicroConditioning MicroConditioning => new()
    {
        OriginalSize = Size("original_size"),
        CropsCoordsTopLeft = Crop("crops_coords_top_left"),
        TargetSize = Size("target_size"),
        NegativeOriginalSize = Size("negative_original_size"),
        NegativeCropsCoordsTopLeft = Crop("negative_crops_coords_top_left"),
        NegativeTargetSize = Size("negative_target_size"),
        AestheticScore = Number("aesthetic_score") ?? 6.0,
        NegativeAestheticScore = Number("negative_aesthetic_score") ?? 2.5,
    };

    private PixelSize? Size(string key) => Pair(key) is [var h, var w] ? new PixelSize(h, w) : null;

    private CropOffset? Crop(string key) => Pair(key) is [var t, var l] ? new CropOffset(t, l) : null;

    public IReadOnlyList<JsonElement> TextEncoderCalls => Root.GetProperty("text_encoder_calls").EnumerateArray().ToList();

    public JsonElement EncodePrompt => Root.GetProperty("encode_prompt");

    public JsonElement AddTimeIds => Root.GetProperty("add_time_ids");

    public IReadOnlyList<JsonElement> RandomDraws => Root.TryGetProperty("random_draws", out var d) ? d.EnumerateArray().ToList() : [];

    public IReadOnlyList<JsonElement> StepsRecorded => Root.GetProperty("steps").EnumerateArray().ToList();

    public float[] Tensor(params string[] path)
    {
        var e = Root;
        foreach (var p in path) e = e.GetProperty(p);
        return SdReferenceCase.Values(e);
    }

    public bool Has(params string[] path)
    {
        var e = Root;
        foreach (var p in path)
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(p, out e) || e.ValueKind == JsonValueKind.Null) return false;
        return true;
    }
}
