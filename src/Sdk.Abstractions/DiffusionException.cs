namespace Diffusion.Sdk.Abstractions;

/// <summary>Base type of every error the SDK raises on purpose: catch it to handle all SDK failures at once.</summary>
public class DiffusionException : Exception
{
    /// <summary>Creates the exception with a message that says what was wrong and what to do.</summary>
    public DiffusionException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the failure that caused it.</summary>
    public DiffusionException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>
/// A scheduler configuration value is invalid: <see cref="Key"/> names the <c>scheduler_config.json</c> key,
/// <see cref="Value"/> what was given and <see cref="Allowed"/> what would be accepted.
/// </summary>
public sealed class SchedulerConfigException : DiffusionException
{
    /// <summary>Creates the exception for one invalid key.</summary>
    public SchedulerConfigException(string key, string? value, string allowed, string? source = null, Exception? innerException = null)
        : base(Format(key, value, allowed, source), innerException)
    {
        Key = key;
        Value = value;
        Allowed = allowed;
        Source = source;
    }

    /// <summary>The configuration key, in the snake_case spelling of <c>scheduler_config.json</c>.</summary>
    public string Key { get; }

    /// <summary>The rejected value as text, or null when it was missing.</summary>
    public string? Value { get; }

    /// <summary>What the key accepts.</summary>
    public string Allowed { get; }

    /// <summary>The file the value came from, when it came from a file.</summary>
    public new string? Source { get; }

    private static string Format(string key, string? value, string allowed, string? source) =>
        $"Invalid scheduler configuration{(source is null ? "" : $" in '{source}'")}: '{key}' = {value ?? "(missing)"}; allowed: {allowed}.";
}

/// <summary>A sampler was used out of order: stepped before its timesteps were set, at a timestep outside its schedule, or past its last step.</summary>
public sealed class SamplerStateException : DiffusionException
{
    /// <summary>Creates the exception with a message that says what was wrong and what to do.</summary>
    public SamplerStateException(string message) : base(message) { }
}

/// <summary>No sampler is registered under the requested name.</summary>
public sealed class UnknownSamplerException : DiffusionException
{
    /// <summary>Creates the exception for <paramref name="name"/>, listing the names that are registered.</summary>
    public UnknownSamplerException(string name, IEnumerable<string> registered)
        : base($"No sampler named '{name}' is registered. Registered samplers: {string.Join(", ", registered.Order(StringComparer.Ordinal))}. " +
               "Register one with services.AddDiffusionSampling().AddXxxSampler(), or load a plugin that provides it.")
    {
        Name = name;
    }

    /// <summary>The name that was asked for.</summary>
    public string Name { get; }
}

/// <summary>
/// A request option is outside its range: <see cref="Option"/> names it (as the options object spells it),
/// <see cref="Value"/> what was given and <see cref="Allowed"/> what is accepted. Options are the caller's
/// arguments, so this is an <see cref="ArgumentException"/>; errors in a model's <c>scheduler_config.json</c> are
/// <see cref="SchedulerConfigException"/>s instead.
/// </summary>
public sealed class SamplingOptionException : ArgumentException
{
    /// <summary>Creates the exception for one invalid option.</summary>
    public SamplingOptionException(string option, string? value, string allowed)
        : base($"Invalid option '{option}' = {value ?? "(missing)"}; allowed: {allowed}.", option)
    {
        Option = option;
        Value = value;
        Allowed = allowed;
    }

    /// <summary>The option's name.</summary>
    public string Option { get; }

    /// <summary>The rejected value as text.</summary>
    public string? Value { get; }

    /// <summary>What the option accepts.</summary>
    public string Allowed { get; }

    /// <summary>The message alone, without the parameter-name suffix <see cref="ArgumentException"/> would add.</summary>
    public override string Message => $"Invalid option '{Option}' = {Value ?? "(missing)"}; allowed: {Allowed}.";
}
