using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// The VAE decoder of a Stable Diffusion export: latents (already divided by the scaling factor) in, pixels in
/// about [−1, 1] out. Items are decoded one at a time, as the reference's ONNX pipelines do, which also fits
/// exports with a fixed batch of 1 and keeps the peak memory of a large batch low. Thread-safe.
/// </summary>
public sealed class OnnxVaeDecoder : IDisposable
{
    private static readonly string[] LatentNames = ["latent_sample", "latents", "z"];
    private static readonly string[] ImageNames = ["sample", "image", "images"];

    private readonly OnnxComponent _component;
    private readonly string _inputName;
    private readonly string _outputName;

    internal OnnxVaeDecoder(OnnxComponent component)
    {
        _component = component;
        _inputName = component.FindInput(LatentNames, m => m is { IsTensor: true, Dimensions.Length: 4 } && OnnxSignature.IsFloat(m.ElementDataType),
            "the latents, float [batch, channels, height, width]");
        _outputName = component.FindOutput(ImageNames, m => m is { IsTensor: true, Dimensions.Length: 4 } && OnnxSignature.IsFloat(m.ElementDataType),
            "the image, float [batch, 3, height, width]");
        if (component.Inputs.Count != 1)
            throw new ModelLoadException($"{component.File}: the VAE decoder should take one input (the latents); it has {component.Describe()}.");
    }

    /// <summary>The model file.</summary>
    public string File => _component.File;

    /// <summary>Whether the graph runs in float16 (its input is float16).</summary>
    public bool IsFloat16 => _component.Inputs[_inputName].ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float16;

    /// <summary><c>force_upcast</c> of the VAE's config (true for SDXL's original VAE, which overflows in float16), or null when the config does not say.</summary>
    public bool? ForceUpcast { get; internal set; }

    internal OnnxComponent Component => _component;

    /// <summary>The latent channels the export fixes in its input, or null when the dimension is symbolic.</summary>
    internal int? DeclaredLatentChannels => _component.Inputs[_inputName].Dimensions[1] is > 0 and var c ? c : null;

    /// <summary>Pixels per latent along the height, when the export fixes both the input's and the output's (0: they do not divide); else null.</summary>
    internal int? DeclaredUpsampling =>
        (_component.Inputs[_inputName].Dimensions[2], _component.Outputs[_outputName].Dimensions[2]) is ( > 0 and var h, > 0 and var H) ? (H % h == 0 ? H / h : 0) : null;

    /// <summary>Decodes <paramref name="latents"/> of <paramref name="shape"/>; returns the pixels and their shape.</summary>
    /// <param name="latents">The batch, [batch, channels, height, width] flattened.</param>
    /// <param name="shape">Its shape.</param>
    /// <param name="cancellationToken">Checked before each item; stops the item's call in flight.</param>
    /// <exception cref="VaeOverflowException">The VAE returned NaN or infinity.</exception>
    /// <exception cref="ObjectDisposedException">The VAE was disposed (also during the call).</exception>
    public (float[] Pixels, TensorShape Shape) Decode(float[] latents, TensorShape shape, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(latents);
        _component.ThrowIfDisposed();
        if (latents.Length != shape.Length) throw new ArgumentException($"{latents.Length} latent values do not match the shape {shape}.", nameof(latents));
        float[]? pixels = null;
        var imageShape = default(TensorShape);
        for (var b = 0; b < shape.Batch; b++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var item = latents.AsSpan(b * shape.ItemLength, shape.ItemLength).ToArray();
            using var input = _component.FloatInput(_inputName, item, [1, shape.Channels, shape.Height, shape.Width]);
            var (output, outShape) = _component.Run([_inputName], [input], _outputName, cancellationToken);
            VaeOverflowException.ThrowIfNonFinite(output, File, "VAE decoder", IsFloat16, ForceUpcast);
            if (outShape is not [1, var c, var h, var w])
                throw new ModelLoadException($"{File}: the VAE decoder returned [{string.Join(", ", outShape)}]; expected [1, channels, height, width].");
            if (pixels is null)
            {
                imageShape = new TensorShape(shape.Batch, (int)c, (int)h, (int)w);
                pixels = new float[imageShape.Length];
            }
            output.CopyTo(pixels, b * imageShape.ItemLength);
        }
        return (pixels!, imageShape);
    }

    /// <summary>Releases the session.</summary>
    public void Dispose() => _component.Dispose();
}
