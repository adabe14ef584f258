namespace Diffusion.Sdk.Tokenizers;

/// <summary>A piece of a prompt and the attention weight the prompt syntax gave it (1.0 = unweighted).</summary>
/// <param name="Text">The text, with the syntax's brackets and escapes removed.</param>
/// <param name="Weight">The product of the multipliers of the brackets around it, in double precision as the reference computes it.</param>
public readonly record struct WeightedText(string Text, double Weight);
