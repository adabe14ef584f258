using Diffusion.Sdk.Abstractions;
namespace Diffusion.Sdk.Tokenizers;

/// <summary>
/// A tokenizer folder cannot be used: a file is missing, unreadable or malformed. <see cref="FilePath"/> names the
/// file and the message says what is wrong with it and what to do.
/// </summary>
public sealed class TokenizerException : DiffusionException
{
    /// <summary>Creates the exception for one file of a tokenizer folder.</summary>
    /// <param name="filePath">The file that is missing or wrong.</param>
    /// <param name="problem">What is wrong with it.</param>
    /// <param name="innerException">The failure that revealed it, if any.</param>
    public TokenizerException(string filePath, string problem, Exception? innerException = null)
        : base($"Tokenizer file '{filePath}': {problem}", innerException)
    {
        FilePath = filePath;
        Problem = problem;
    }

    /// <summary>The file that is missing or wrong.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with the file, without the path.</summary>
    public string Problem { get; }
}
