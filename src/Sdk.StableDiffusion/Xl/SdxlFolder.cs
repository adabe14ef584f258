using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Onnx;
using Microsoft.Extensions.Logging;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>Recognises an SDXL export from its files and opens its text encoders.</summary>
internal static class SdxlFolder
{
    /// <summary>
    /// An SDXL folder has <c>text_encoder_2/</c> (the base has both encoders, the refiner only this one), or says so
    /// in <c>model_index.json</c> (<c>StableDiffusionXL…Pipeline</c>).
    /// </summary>
    public static bool IsXl(string root, ModelFolderConfigs configs) =>
        configs.DeclaresXl || File.Exists(Path.Combine(root, "text_encoder_2", "model.onnx"));

    /// <summary>
    /// Opens <c>tokenizer/</c> + <c>text_encoder/</c> when present, then <c>tokenizer_2/</c> + <c>text_encoder_2/</c>
    /// (required), each tokenizer with its own pad token. Opened parts are added to <paramref name="parts"/> so that a
    /// later failure releases them.
    /// </summary>
    /// <exception cref="ModelLoadException">A part is missing or unreadable.</exception>
    public static SdxlTextEncoders LoadTextEncoders(string root, OnnxModelOptions options, ILogger logger, IPromptTokenizer? firstTokenizer, List<IDisposable> parts)
    {
        var missing = new List<string>();
        if (!File.Exists(Path.Combine(root, "text_encoder_2", "model.onnx"))) missing.Add("text_encoder_2/model.onnx");
        if (!Directory.Exists(Path.Combine(root, "tokenizer_2"))) missing.Add("tokenizer_2/");
        var hasFirst = File.Exists(Path.Combine(root, "text_encoder", "model.onnx"));
        if (hasFirst && firstTokenizer is null && !Directory.Exists(Path.Combine(root, "tokenizer"))) missing.Add("tokenizer/");
        if (missing.Count > 0)
            throw new ModelLoadException($"'{root}' is an SDXL export but {string.Join(", ", missing)} {(missing.Count == 1 ? "is" : "are")} missing: the base needs tokenizer/ + text_encoder/ and tokenizer_2/ + text_encoder_2/, a refiner tokenizer_2/ + text_encoder_2/.");

        var pairs = new List<TextEncoderPair>();
        if (hasFirst)
        {
            var tokenizer = firstTokenizer ?? ClipPromptTokenizer.FromFolder(Path.Combine(root, "tokenizer"));
            var encoder = Open(root, "text_encoder", options, logger);
            parts.Add(encoder);
            pairs.Add(new TextEncoderPair("text_encoder", tokenizer, encoder));
        }
        var tokenizer2 = ClipPromptTokenizer.FromFolder(Path.Combine(root, "tokenizer_2"));
        var encoder2 = Open(root, "text_encoder_2", options, logger);
        parts.Add(encoder2);
        pairs.Add(new TextEncoderPair("text_encoder_2", tokenizer2, encoder2));
        return new SdxlTextEncoders(pairs);
    }

    private static OnnxTextEncoder Open(string root, string name, OnnxModelOptions options, ILogger logger) =>
        OnnxTextEncoder.Load(Path.Combine(root, name, "model.onnx"), options, logger);
}
