namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// A session-holding part (text encoder, UNet, VAE) that several <see cref="StableDiffusionModel"/>s may share: a
/// model made by <see cref="StableDiffusionModel.WithLoras"/> keeps the parts its adapters do not change. The part
/// is disposed when the last model holding it is.
/// </summary>
internal sealed class SharedPart<T>(T value) where T : class, IDisposable
{
    private int _holders = 1;

    public T Value { get; } = value;

    /// <summary>One more holder.</summary>
    public SharedPart<T> Share()
    {
        if (Interlocked.Increment(ref _holders) <= 1)
            throw new ObjectDisposedException(typeof(T).Name, "The part was released by every model that held it.");
        return this;
    }

    /// <summary>One holder fewer; the last one disposes the part.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _holders) == 0) Value.Dispose();
    }
}
