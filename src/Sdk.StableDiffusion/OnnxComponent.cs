using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Onnx;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// One ONNX part of a pipeline other than the UNet (the text encoder, a VAE half): its session, opened with the
/// same provider and settings as the UNet, and the helpers that feed it float32 or integer tensors in the element
/// types the graph declares and read its float32 or float16 outputs back as float32. Called a few times per
/// generation, so it runs through plain <c>Run</c> rather than the UNet's IO binding. Its lifetime is the UNet's
/// (<see cref="GuardedSession"/>): disposing it stops a call in flight and waits for it before the session is released,
/// and any call after that is an <see cref="ObjectDisposedException"/>. Thread-safe.
/// </summary>
internal sealed class OnnxComponent : IDisposable
{
    // The session and any merged LoRA weights, released only after the calls running on them have returned.
    private readonly GuardedSession _session;

    private OnnxComponent(InferenceSession session, string file, string role, OnnxInitializerOverrides? overrides)
    {
        _session = new GuardedSession(session, $"the {role} {file}", overrides);
        File = file;
        Role = role;
    }

    /// <summary>The <c>.onnx</c> file.</summary>
    public string File { get; }

    /// <summary>What the part is, for messages ("text encoder").</summary>
    public string Role { get; }

    /// <summary>The session (the benchmarks call it bare, so that both sides share its thread pool).</summary>
    internal InferenceSession Session => _session.Unguarded;

    /// <summary>Whether the component has been disposed.</summary>
    public bool IsDisposed => _session.IsDisposed;

    /// <exception cref="ObjectDisposedException">The component has been disposed.</exception>
    public void ThrowIfDisposed() => _session.ThrowIfDisposed();

    public IReadOnlyDictionary<string, NodeMetadata> Inputs => _session.InputMetadata;


    public IReadOnlyDictionary<string, NodeMetadata> Outputs => _session.OutputMetadata;

    /// <summary>Opens <paramref name="file"/>; external weight data is read from beside it. <paramref name="overrides"/> (merged LoRA weights) replace initializers of the file; the component owns them once opened.</summary>
    public static OnnxComponent Open(string file, string role, OnnxModelOptions options, ILogger logger, OnnxInitializerOverrides? overrides = null)
    {
        if (!System.IO.File.Exists(file))
            throw new ModelLoadException($"The {role} '{file}' does not exist. A Stable Diffusion folder needs text_encoder/, unet/ and vae_decoder/ (each with model.onnx), tokenizer/ and scheduler/.");
        var session = OnnxSessionFactory.Create(file, options, logger, out _, overrides);
        return new OnnxComponent(session, file, role, overrides);
    }

    /// <summary>Every input and output, described for messages.</summary>
    public string Describe() =>
        $"inputs {string.Join("; ", Inputs.Select(kv => $"'{kv.Key}': {OnnxSignature.Describe(kv.Value)}"))}, outputs {string.Join("; ", Outputs.Select(kv => $"'{kv.Key}': {OnnxSignature.Describe(kv.Value)}"))}";

    /// <summary>A float32 input in the element type that <paramref name="name"/> declares (float32 or float16).</summary>
    public OrtValue FloatInput(string name, float[] values, long[] shape)
    {
        if (Inputs[name].ElementDataType == TensorElementType.Float16)
        {
            var half = new Float16[values.Length];
            TensorPrimitives.ConvertToHalf(values, MemoryMarshal.Cast<Float16, Half>(half.AsSpan()));
            return OrtValue.CreateTensorValueFromMemory(half, shape);
        }
        return OrtValue.CreateTensorValueFromMemory(values, shape);
    }

    /// <summary>An integer input in the element type that <paramref name="name"/> declares (int64 or int32).</summary>
    public OrtValue IntegerInput(string name, int[] values, long[] shape) =>
        Inputs[name].ElementDataType == TensorElementType.Int64
            ? OrtValue.CreateTensorValueFromMemory(Array.ConvertAll(values, v => (long)v), shape)
            : OrtValue.CreateTensorValueFromMemory(values, shape);

    /// <summary>Runs the graph and returns output <paramref name="output"/> as float32 with its shape.</summary>
    /// <exception cref="ModelOutOfMemoryException">ONNX Runtime could not allocate memory.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed for another reason.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; a running call is stopped.</exception>
    /// <exception cref="ObjectDisposedException">The component was disposed before or during the call.</exception>
    public (float[] Values, long[] Shape) Run(IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs, string output, CancellationToken cancellationToken = default) =>
        Run(inputNames, inputs, [output], cancellationToken)[0];

    /// <summary>Runs the graph once and returns every output of <paramref name="outputs"/>, in that order, as float32 with its shape.</summary>
    /// <exception cref="ModelOutOfMemoryException">ONNX Runtime could not allocate memory.</exception>
    /// <exception cref="DiffusionException">ONNX Runtime failed for another reason.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; a running call is stopped.</exception>
    /// <exception cref="ObjectDisposedException">The component was disposed before or during the call.</exception>
    public (float[] Values, long[] Shape)[] Run(IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputs, IReadOnlyList<string> outputs, CancellationToken cancellationToken = default)
    {
        try
        {
            using var runOptions = new RunOptions();
            // The outputs are read inside the guarded call, while the session is certainly alive.
            return _session.Run(runOptions, (Component: this, Options: runOptions, Names: inputNames, Inputs: inputs, Outputs: outputs), static (session, a) =>
            {
                using var results = session.Run(a.Options, a.Names, a.Inputs, a.Outputs);
                return a.Component.Read(results, a.Outputs);
            }, cancellationToken);
        }
        catch (OnnxRuntimeException e) when (OnnxErrors.IsOutOfMemory(e))
        {
            throw new ModelOutOfMemoryException($"The {Role} {File} ran out of memory: {e.Message}", e);
        }
        catch (OnnxRuntimeException e)
        {
            throw new DiffusionException($"ONNX Runtime failed to run the {Role} {File}: {e.Message}", e);
        }
    }

    private (float[] Values, long[] Shape)[] Read(IDisposableReadOnlyCollection<OrtValue> results, IReadOnlyList<string> outputs)
    {
        var read = new (float[] Values, long[] Shape)[outputs.Count];
        for (var i = 0; i < read.Length; i++)
        {
            var value = results[i];
            var info = value.GetTensorTypeAndShape();
            var values = new float[info.ElementCount];
            if (info.ElementDataType == TensorElementType.Float16)
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<Float16, Half>(value.GetTensorDataAsSpan<Float16>()), values);
            else if (info.ElementDataType == TensorElementType.Float)
                value.GetTensorDataAsSpan<float>().CopyTo(values);
            else
                throw new ModelLoadException($"{File}: the {Role}'s output '{outputs[i]}' is {OnnxSignature.TypeName(info.ElementDataType)}; expected float32 or float16.");
            read[i] = (values, info.Shape);
        }
        return read;
    }

    /// <summary>The input named one of <paramref name="names"/>, else the only input that <paramref name="fits"/>.</summary>
    public string FindInput(string[] names, Func<NodeMetadata, bool> fits, string what) =>
        Find(Inputs, names, fits, what, "input");

    /// <summary>The output named one of <paramref name="names"/>, else the only output that <paramref name="fits"/> (or output 0 when <paramref name="firstOtherwise"/>).</summary>
    public string FindOutput(string[] names, Func<NodeMetadata, bool> fits, string what, bool firstOtherwise = false)
    {
        if (firstOtherwise && !names.Any(Outputs.ContainsKey) && Outputs.Count > 0 && fits(Outputs.First().Value))
            return Outputs.First().Key;
        return Find(Outputs, names, fits, what, "output");
    }

    private string Find(IReadOnlyDictionary<string, NodeMetadata> nodes, string[] names, Func<NodeMetadata, bool> fits, string what, string kind)
    {
        foreach (var name in names)
            if (nodes.TryGetValue(name, out var m))
                return fits(m) ? name : throw new ModelLoadException($"{File}: the {Role}'s {kind} '{name}' is {OnnxSignature.Describe(m)}; expected {what}. The file has {Describe()}.");
        var fitting = nodes.Where(kv => fits(kv.Value)).Select(kv => kv.Key).ToList();
        return fitting.Count == 1 ? fitting[0]
            : throw new ModelLoadException($"{File}: the {Role} has {(fitting.Count == 0 ? "no" : "several")} {kind}{(fitting.Count == 0 ? "" : "s")} that could be {what} (looked for '{string.Join("', '", names)}'). The file has {Describe()}.");
    }

    /// <summary>Stops a call in flight, waits for it, then releases the session (and any merged weights).</summary>
    public void Dispose() => _session.Dispose();
}
