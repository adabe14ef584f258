using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Microsoft.Extensions.Logging;

namespace Diffusion.Sdk.Tests.Support;

/// <summary>A logger provider that keeps every warning (and worse) it receives, for tests of what a user is told.</summary>
public sealed class ListLogger : ILoggerProvider, ILogger
{
    /// <summary>The formatted warnings and errors, in order.</summary>
    public List<string> Warnings { get; } = [];

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        lock (Warnings) Warnings.Add(formatter(state, exception));
    }

    public void Dispose() { }
}
