using Diffusion.Denoising;

namespace Diffusion.StableDiffusion;

/// <summary>The CLIP tokenizer of a model's <c>tokenizer/</c> folder (Diffusion.Tokenizers), as the pipeline's default <see cref="IPromptTokenizer"/>.</summary>
internal static class ClipPromptTokenizer
{
    // Filled in when the Diffusion.Tokenizers assembly lands (merged from main).
    public static IPromptTokenizer FromFolder(string folder) =>
        throw new ModelLoadException($"No tokenizer is built into this SDK build yet: pass StableDiffusionOptions.Tokenizer (folder '{folder}').");
}
