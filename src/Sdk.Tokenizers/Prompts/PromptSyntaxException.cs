using Diffusion.Sdk.Abstractions;
namespace Diffusion.Sdk.Tokenizers;

/// <summary>
/// A prompt cannot be read in the prompt syntax: a weight such as <c>(word:1.2.3)</c> that is not a number, or more
/// brackets open at once than <see cref="PromptAttentionParser.MaxOpenBrackets"/>. <see cref="Position"/> is the
/// index in the prompt where the problem starts.
/// </summary>
public sealed class PromptSyntaxException : DiffusionException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="position">The index of the offending character in the prompt.</param>
    /// <param name="problem">What is wrong and what to do.</param>
    public PromptSyntaxException(int position, string problem)
        : base($"Prompt syntax, at character {position}: {problem}")
    {
        Position = position;
        Problem = problem;
    }

    /// <summary>The index of the offending character in the prompt.</summary>
    public int Position { get; }

    /// <summary>What is wrong, without the position.</summary>
    public string Problem { get; }
}
