namespace Diffusion.Sdk.StableDiffusion;

/// <summary>How a request's prompts are read (<see cref="StableDiffusionRequest.PromptSyntax"/>).</summary>
public enum PromptSyntax
{
    /// <summary>Plain text, cut at the tokenizer's 75 tokens: exactly the standard pipeline's embeddings (the default).</summary>
    Plain,

    /// <summary>
    /// The A1111 attention syntax (<c>(text)</c>, <c>[text]</c>, <c>(text:1.3)</c>, escapes) and prompts of up to
    /// <see cref="StableDiffusionRequest.PromptMaxWindows"/> windows of 75 tokens, as diffusers' long-prompt-weighting
    /// community pipeline computes them (<see cref="LongPromptConditioner"/>).
    /// </summary>
    A1111,
}
