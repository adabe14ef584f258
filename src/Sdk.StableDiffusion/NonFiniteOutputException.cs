using System.Numerics.Tensors;
using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// An ONNX component other than the UNet (a text encoder, a VAE half) returned NaN or infinity. The run stops at that
/// component, which the message names with its file, instead of passing the values on as a black image. The UNet's own
/// outputs are checked in the loop (<c>NonFiniteValueException</c>); a VAE's are a <see cref="VaeOverflowException"/>,
/// whose message gives the float16 advice.
/// </summary>
public class NonFiniteOutputException : DiffusionException
{
    /// <summary>Creates the exception for the <paramref name="component"/> in <paramref name="file"/>, whose output held <paramref name="value"/> at <paramref name="index"/>.</summary>
    private protected NonFiniteOutputException(string message, string file, string component, bool float16, int index, float value) : base(message)
    {
        File = file;
        Component = component;
        IsFloat16 = float16;
        Index = index;
        Value = value;
    }

    internal NonFiniteOutputException(string file, string component, bool float16, int index, float value)
        : this($"The {component} {file} returned {Describe(value)} (element {index}){(float16 ? " running in float16" : "")}. " +
               (float16
                   ? "A float16 export can overflow where float32 does not: export the component in float32."
                   : "The model file may be corrupt or not belong to this pipeline: export it again from the original weights."),
            file, component, float16, index, value)
    {
    }

    /// <summary>The component's model file.</summary>
    public string File { get; }

    /// <summary>Which component ("text encoder (output 'last_hidden_state')", "VAE decoder").</summary>
    public string Component { get; }

    /// <summary>Whether the component runs in float16.</summary>
    public bool IsFloat16 { get; }

    /// <summary>The first non-finite element of the output.</summary>
    public int Index { get; }

    /// <summary>Its value (NaN or ±infinity).</summary>
    public float Value { get; }

    /// <summary>"NaN", "infinity" or "−infinity".</summary>
    protected static string Describe(float value) => float.IsNaN(value) ? "NaN" : value > 0 ? "infinity" : "−infinity";

    /// <summary>The index of the first NaN or infinity in <paramref name="values"/>, or −1 when every value is finite.</summary>
    internal static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        // The sum of magnitudes is finite when every value is: one vectorised pass in the common case, a scan otherwise.
        if (float.IsFinite(TensorPrimitives.SumOfMagnitudes(values))) return -1;
        for (var i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1; // only finite values whose magnitudes overflowed the sum
    }

    /// <summary>Throws when <paramref name="values"/> holds a NaN or infinity.</summary>
    internal static void ThrowIfNonFinite(ReadOnlySpan<float> values, string file, string component, bool float16)
    {
        var index = FirstNonFinite(values);
        if (index >= 0) throw new NonFiniteOutputException(file, component, float16, index, values[index]);
    }
}
