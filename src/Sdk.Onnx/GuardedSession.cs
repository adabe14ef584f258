using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Sdk.Onnx;

/// <summary>
/// An ONNX Runtime session whose release waits for the calls running on it, shared by every ONNX part (the UNet,
/// the text encoders, the VAE halves). Releasing a session under a running call pulls native memory from under it
/// and kills the process; here <see cref="Dispose"/> asks every call in flight to stop (ONNX Runtime's terminate
/// flag), waits until the last has returned, and only then releases the session. A call that starts afterwards, or
/// that was running when the session was disposed, ends with <see cref="ObjectDisposedException"/>: a result computed
/// by a session that is being released is never given out.
/// </summary>
internal sealed class GuardedSession : IDisposable
{
    private readonly InferenceSession _session;
    // Merged LoRA weights the session reads in place of the file's: released after the session.
    private readonly OnnxInitializerOverrides? _overrides;
    // Calls in flight, by their run options (so that Dispose can ask them to stop). Also the lock.
    private readonly HashSet<RunOptions> _running = [];
    private volatile bool _disposed;

    /// <param name="session">The session; owned from here on.</param>
    /// <param name="description">What the session runs, for messages ("the VAE decoder /m/vae_decoder/model.onnx").</param>
    /// <param name="overrides">Initializer values the session reads (merged LoRA weights); owned from here on.</param>
    public GuardedSession(InferenceSession session, string description, OnnxInitializerOverrides? overrides = null)
    {
        _session = session;
        _overrides = overrides;
        Description = description;
    }

    /// <summary>What the session runs, for messages.</summary>
    public string Description { get; }

    /// <summary>Whether <see cref="Dispose"/> has been called (the session may still be finishing a call).</summary>
    public bool IsDisposed => _disposed;

    /// <summary>The input metadata, read once when the session was created (safe after disposal).</summary>
    public IReadOnlyDictionary<string, NodeMetadata> InputMetadata => _session.InputMetadata;

    /// <summary>The output metadata, read once when the session was created (safe after disposal).</summary>
    public IReadOnlyDictionary<string, NodeMetadata> OutputMetadata => _session.OutputMetadata;

    /// <summary>The bare session, for callers that time runtime calls next to the SDK's (the benchmarks); not guarded.</summary>
    /// <exception cref="ObjectDisposedException">The session has been disposed.</exception>
    public InferenceSession Unguarded
    {
        get
        {
            ThrowIfDisposed();
            return _session;
        }
    }

    /// <exception cref="ObjectDisposedException">The session has been disposed.</exception>
    public void ThrowIfDisposed()
    {
        if (_disposed) throw new ObjectDisposedException(Description, $"{Capitalized} was disposed; load the model again to use it.");
    }

    /// <summary>
    /// Runs <paramref name="call"/> on the session, which stays alive until the call returns. Cancellation and
    /// disposal reach a running call through <paramref name="runOptions"/>' terminate flag, which is cleared again
    /// afterwards (so that the options can serve the next call). <paramref name="call"/> must copy out whatever it
    /// needs from the runtime's outputs before it returns.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The session was disposed before or during the call.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; a running call is stopped.</exception>
    /// <exception cref="OnnxRuntimeException">The runtime failed for another reason (the caller words it).</exception>
    public TResult Run<TState, TResult>(RunOptions runOptions, TState state, Func<InferenceSession, TState, TResult> call, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var stop = cancellationToken.Register(static o => ((RunOptions)o!).Terminate = true, runOptions);
        lock (_running)
        {
            ThrowIfDisposed();
            _running.Add(runOptions);
        }
        try
        {
            var result = call(_session, state);
            // Disposed while the call ran to its end: the caller is told, and gets nothing from a released model.
            if (_disposed) throw StoppedByDisposal(null);
            return result;
        }
        catch (OnnxRuntimeException e) when (_disposed)
        {
            throw StoppedByDisposal(e);
        }
        catch (OnnxRuntimeException e) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException($"The call to {Description} was cancelled.", e, cancellationToken);
        }
        finally
        {
            lock (_running)
            {
                _running.Remove(runOptions);
                if (_running.Count == 0) Monitor.PulseAll(_running);
            }
            runOptions.Terminate = false;
        }
    }

    /// <summary>
    /// Asks every call in flight to stop, waits for the last of them to return, then releases the session and its
    /// initializer overrides. Safe to call more than once and from any thread (not from inside a call).
    /// </summary>
    public void Dispose()
    {
        lock (_running)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var run in _running) run.Terminate = true;
            while (_running.Count > 0) Monitor.Wait(_running);
        }
        _session.Dispose();
        _overrides?.Dispose();
    }

    private ObjectDisposedException StoppedByDisposal(Exception? inner) =>
        new($"{Capitalized} was disposed during a call; the call was stopped and its result discarded.", inner);

    private string Capitalized => Description.Length > 0 ? char.ToUpperInvariant(Description[0]) + Description[1..] : Description;
}
