using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tokenizers;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>The CLIP tokenizer of a model's <c>tokenizer/</c> folder (<see cref="ClipTokenizer"/>), the pipeline's default <see cref="IPromptTokenizer"/>.</summary>
public sealed class ClipPromptTokenizer : IPromptTokenizer
{
    /// <summary>Wraps <paramref name="tokenizer"/>.</summary>
    public ClipPromptTokenizer(ClipTokenizer tokenizer) => Tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));

    /// <summary>The tokenizer.</summary>
    public ClipTokenizer Tokenizer { get; }

    /// <inheritdoc/>
    public int ModelMaxLength => Tokenizer.ModelMaxLength;

    /// <inheritdoc/>
    public int[] Encode(string text) => Tokenizer.Encode(text);

    /// <summary>Reads the tokenizer folder.</summary>
    /// <exception cref="ModelLoadException">A tokenizer file is missing or malformed.</exception>
    public static ClipPromptTokenizer FromFolder(string folder)
    {
        try
        {
            return new ClipPromptTokenizer(ClipTokenizer.FromFolder(folder));
        }
        catch (TokenizerException e)
        {
            throw new ModelLoadException($"The tokenizer in '{folder}' could not be read: {e.Message}", e);
        }
    }
}
