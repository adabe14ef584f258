using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Onnx;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>What a VAE encoder export returns.</summary>
public enum VaeEncoderOutput
{
    /// <summary>
    /// A latent already sampled inside the graph (the legacy diffusers export's <c>latent_sample</c>, drawn by ONNX
    /// Runtime's own unseeded generator). The pipeline still takes the posterior draw from its seeded generator and
    /// discards it, so that the draws after it match the reference.
    /// </summary>
    Sample,

    /// <summary>The posterior's parameters, mean and log-variance stacked on the channel axis (Optimum's <c>latent_parameters</c>); the pipeline samples with its seeded generator.</summary>
    LatentParameters,
}

/// <summary>
/// The VAE encoder of a Stable Diffusion export: pixels in [−1, 1] in, a latent or the posterior's parameters out
/// (<see cref="VaeEncoderOutput"/>, told apart by the output's name and, failing that, by its channel count).
/// Items are encoded one at a time. Thread-safe.
/// </summary>
public sealed class OnnxVaeEncoder : IDisposable
{
    private static readonly string[] ImageNames = ["sample", "image", "images"];
    private static readonly string[] SampleNames = ["latent_sample", "latents"];
    private static readonly string[] ParameterNames = ["latent_parameters", "latent_dist", "moments", "parameters"];

    private readonly OnnxComponent _component;
    private readonly string _inputName;
    private readonly string _outputName;
    private readonly VaeEncoderOutput? _declared;

    internal OnnxVaeEncoder(OnnxComponent component)
    {
        _component = component;
        _inputName = component.FindInput(ImageNames, m => m is { IsTensor: true, Dimensions.Length: 4 } && OnnxSignature.IsFloat(m.ElementDataType),
            "the image, float [batch, 3, height, width]");
        if (component.Inputs.Count != 1)
            throw new ModelLoadException($"{component.File}: the VAE encoder should take one input (the image); it has {component.Describe()}.");
        _outputName = component.FindOutput([.. SampleNames, .. ParameterNames], m => m is { IsTensor: true, Dimensions.Length: 4 } && OnnxSignature.IsFloat(m.ElementDataType),
            "the latent or its posterior parameters, float [batch, channels, height, width]");
        _declared = SampleNames.Contains(_outputName) ? VaeEncoderOutput.Sample : ParameterNames.Contains(_outputName) ? VaeEncoderOutput.LatentParameters : null;
    }

    /// <summary>The model file.</summary>
    public string File => _component.File;

    /// <summary>Whether the graph runs in float16 (its input is float16).</summary>
    public bool IsFloat16 => _component.Inputs[_inputName].ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float16;

    /// <summary><c>force_upcast</c> of the VAE's config (true for SDXL's original VAE, which overflows in float16), or null when the config does not say.</summary>
    public bool? ForceUpcast { get; internal set; }

    /// <summary>The channels the export fixes in its output, or null when the dimension is symbolic.</summary>
    internal int? DeclaredOutputChannels => _component.Outputs[_outputName].Dimensions[1] is > 0 and var c ? c : null;

    /// <summary>The output's name.</summary>
    public string OutputName => _outputName;

    /// <summary>What the encoder returns for a UNet of <paramref name="latentChannels"/> channels, judged from the output's name, else its channel count.</summary>
    public VaeEncoderOutput? OutputKind(int latentChannels)
    {
        if (_declared is { } d) return d;
        var c = _component.Outputs[_outputName].Dimensions[1];
        return c == latentChannels ? VaeEncoderOutput.Sample : c == 2 * latentChannels ? VaeEncoderOutput.LatentParameters : null;
    }

    /// <summary>Encodes <paramref name="pixels"/> of <paramref name="shape"/>; returns the raw output and its shape.</summary>
    /// <param name="pixels">The batch, [batch, channels, height, width] flattened.</param>
    /// <param name="shape">Its shape.</param>
    /// <param name="cancellationToken">Checked before each item; stops the item's call in flight.</param>
    /// <exception cref="VaeOverflowException">The VAE returned NaN or infinity.</exception>
    /// <exception cref="ObjectDisposedException">The VAE was disposed (also during the call).</exception>
    public (float[] Values, TensorShape Shape) Encode(float[] pixels, TensorShape shape, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        _component.ThrowIfDisposed();
        if (pixels.Length != shape.Length) throw new ArgumentException($"{pixels.Length} pixel values do not match the shape {shape}.", nameof(pixels));
        float[]? values = null;
        var outputShape = default(TensorShape);
        for (var b = 0; b < shape.Batch; b++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var item = pixels.AsSpan(b * shape.ItemLength, shape.ItemLength).ToArray();
            using var input = _component.FloatInput(_inputName, item, [1, shape.Channels, shape.Height, shape.Width]);
            var (output, outShape) = _component.Run([_inputName], [input], _outputName, cancellationToken);
            VaeOverflowException.ThrowIfNonFinite(output, File, "VAE encoder", IsFloat16, ForceUpcast);
            if (outShape is not [1, var c, var h, var w])
                throw new ModelLoadException($"{File}: the VAE encoder returned [{string.Join(", ", outShape)}]; expected [1, channels, height, width].");
            if (values is null)
            {
                outputShape = new TensorShape(shape.Batch, (int)c, (int)h, (int)w);
                values = new float[outputShape.Length];
            }
            output.CopyTo(values, b * outputShape.ItemLength);
        }
        return (values!, outputShape);
    }

    /// <summary>Releases the session.</summary>
    public void Dispose() => _component.Dispose();
}
