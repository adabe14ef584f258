using System.Text.Json;
using Diffusion.Sdk.Lora;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusion;

namespace Diffusion.Sdk.Tests.Lora;

/// <summary>TestData/lora (a copy of the reference's LoRA fixture): adapters for the tiny SD export, the cases, and which initializer each key lands on.</summary>
public static class LoraFixture
{
    public static string Folder { get; } = TestData.Path("lora");

    public static string AdapterPath(string file) => Path.Combine(Folder, file);

    public static string K1 => AdapterPath("adapters/kohya_k1_rank4_fp32.safetensors");

    public static string K2 => AdapterPath("adapters/kohya_k2_rank4_fp16.safetensors");

    public static string P1 => AdapterPath("adapters/peft_p1_rank4_fp32.safetensors");

    public static IEnumerable<TestCaseData> Cases() =>
        SdReferenceCase.Files(Folder).Select(f => new TestCaseData(Path.GetFileNameWithoutExtension(f)).SetName(Path.GetFileNameWithoutExtension(f)));

    public static SdReferenceCase Case(string name) => SdReferenceCase.Load(Path.Combine(Folder, "expected", name + ".json"));

    /// <summary>The adapters of a case, as its <c>lora.adapters</c> block lists them (file and multiplier).</summary>
    public static LoraAdapter[] Adapters(SdReferenceCase c) =>
        c.Root.GetProperty("lora").GetProperty("adapters").EnumerateArray()
            .Select(a => new LoraAdapter(AdapterPath(a.GetProperty("file").GetString()!), a.GetProperty("multiplier").GetDouble())).ToArray();

    /// <summary>The tiny SD export with <paramref name="adapters"/> merged (the caller disposes it).</summary>
    public static StableDiffusionModel Load(params LoraAdapter[] adapters) =>
        StableDiffusionModel.Load(SdFixture.ModelFolder, new StableDiffusionOptions { Loras = adapters });

    /// <summary>keymap.json: per adapter id, per key, the initializer and whether it is stored transposed.</summary>
    public static JsonElement KeyMap { get; } = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "keymap.json"))).RootElement.Clone();

    /// <summary>The model parts of the tiny export an adapter can update, by name.</summary>
    public static IReadOnlyDictionary<string, string> Components { get; } = new Dictionary<string, string>
    {
        ["text_encoder"] = Path.Combine(SdFixture.ModelFolder, "text_encoder", "model.onnx"),
        ["unet"] = Path.Combine(SdFixture.ModelFolder, "unet", "model.onnx"),
    };
}
