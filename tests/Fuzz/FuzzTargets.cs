using System.Text;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Lora.SafeTensors;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tokenizers;

namespace Diffusion.Sdk.Fuzz;

/// <summary>
/// One entry per parser of untrusted input. A target may refuse its input only with the SDK's typed errors
/// (<see cref="DiffusionException"/> and its kinds); any other exception, a hang or a crash is a finding.
/// </summary>
public static class FuzzTargets
{
    /// <summary>The targets by name (the corpus folder of each is <c>corpus/&lt;name&gt;</c>).</summary>
    public static IReadOnlyDictionary<string, Action<byte[]>> All { get; } = new SortedDictionary<string, Action<byte[]>>(StringComparer.Ordinal)
    {
        ["scheduler-config"] = SchedulerConfig,
        ["tokenizer"] = Tokenizer,
        ["safetensors"] = SafeTensors,
        ["image"] = Image,
        ["mask"] = Mask,
        ["prompt"] = Prompt,
        ["model-config"] = ModelConfig,
    };

    /// <summary>Whether <paramref name="error"/> is a refusal the contract allows (a typed error), not a finding.</summary>
    public static bool IsTypedRefusal(Exception error) => error is DiffusionException;

    // scheduler_config.json text, read as the SDK reads the file.
    private static void SchedulerConfig(byte[] input) =>
        SchedulerConfigJson.Parse(Utf8(input), source: "fuzz");

    // A tokenizer folder: vocab.json, merges.txt and tokenizer_config.json, separated in the input by lines "\n--8<--\n",
    // then one encoding of a fixed prompt and of the input's tail.
    private static void Tokenizer(byte[] input)
    {
        var parts = Utf8(input).Split("\n--8<--\n");
        var folder = Directory.CreateTempSubdirectory("fuzz-tokenizer-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "vocab.json"), parts.ElementAtOrDefault(0) ?? "");
            File.WriteAllText(Path.Combine(folder, "merges.txt"), parts.ElementAtOrDefault(1) ?? "");
            File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), parts.ElementAtOrDefault(2) ?? "{}");
            var tokenizer = ClipTokenizer.FromFolder(folder);
            tokenizer.Encode("a photo of a cat, highly detailed");
            tokenizer.Encode(parts.ElementAtOrDefault(3) ?? "");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    // A .safetensors file: the header, then every tensor read as float32 (as the LoRA loader reads them).
    private static void SafeTensors(byte[] input)
    {
        var file = SafeTensorsFile.FromBytes(input, "fuzz.safetensors");
        foreach (var tensor in file.Header.Tensors) file.ReadSingle(tensor);
    }

    // A start image (PNG, JPEG, BMP…), decoded as image to image decodes it.
    private static void Image(byte[] input) => StableDiffusionImages.Decode(input);

    // An inpainting mask, decoded and sized as the pipeline does for a 64×64 request.
    private static void Mask(byte[] input) => InpaintingMask.Decode(input, 64, 64);

    // An export's JSON files: model_index.json, vae_decoder/config.json, unet/config.json and text_encoder/config.json,
    // separated in the input by lines "\n--8<--\n", each read and checked as loading a model reads it.
    private static void ModelConfig(byte[] input)
    {
        var parts = Utf8(input).Split("\n--8<--\n");
        var root = Directory.CreateTempSubdirectory("fuzz-model-").FullName;
        try
        {
            string[] files = ["model_index.json", "vae_decoder/config.json", "unet/config.json", "text_encoder/config.json"];
            for (var i = 0; i < files.Length && i < parts.Length; i++)
            {
                var file = Path.Combine(root, files[i]);
                Directory.CreateDirectory(Path.GetDirectoryName(file)!);
                File.WriteAllText(file, parts[i]);
            }
            var configs = ModelFolderConfigs.Read(root);
            if (configs.ScalingFactor is { } scaling) ComponentConsistency.ScalingFactor(scaling, "fuzz");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    // An A1111-style prompt: the emphasis parser.
    private static void Prompt(byte[] input) => PromptAttentionParser.Parse(Utf8(input));

    private static string Utf8(byte[] input) => Encoding.UTF8.GetString(input);
}
