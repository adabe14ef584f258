using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// Turns a prompt into the token ids the text encoder takes: framed with the start and end tokens, truncated and
/// padded to the model's length, as the reference pipeline's <c>padding="max_length", truncation=True</c> does.
/// The default is the CLIP tokenizer of the model's <c>tokenizer/</c> folder; implement this to use another.
/// Implementations must be thread-safe.
/// </summary>
public interface IPromptTokenizer
{
    /// <summary>The number of ids <see cref="Encode"/> returns (77 for CLIP).</summary>
    int ModelMaxLength { get; }

    /// <summary>The framed, padded ids of <paramref name="text"/>.</summary>
    int[] Encode(string text);
}
