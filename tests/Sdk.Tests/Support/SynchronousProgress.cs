namespace Diffusion.Sdk.Tests.Support;

/// <summary>Reports on the calling thread, in order (<see cref="Progress{T}"/> posts to the thread pool, so its reports can arrive late or out of order).</summary>
public sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
