using Diffusion.Sdk.Lora.SafeTensors;

namespace Diffusion.Sdk.Lora;

/// <summary>
/// One module of an adapter file: its down and up projections (and alpha), read and checked, with the scale the
/// file's format gives it. Modules of a kind the merge does not apply carry <see cref="Unsupported"/> instead.
/// </summary>
internal sealed class LoraModule
{
    public LoraModule(string component, string name, string[] tokens, bool kohya)
    {
        Component = component;
        Name = name;
        Tokens = tokens;
        Kohya = kohya;
    }

    /// <summary><c>unet</c>, <c>text_encoder</c> or <c>text_encoder_2</c>.</summary>
    public string Component { get; }

    /// <summary>The module part of its keys, as written there.</summary>
    public string Name { get; }

    /// <summary>The name split at every <c>.</c> and <c>_</c>.</summary>
    public string[] Tokens { get; }

    /// <summary>Whether the keys are kohya's.</summary>
    public bool Kohya { get; }

    /// <summary>Every key of the module in the file.</summary>
    public List<string> Keys { get; } = [];

    public SafeTensorInfo? Down { get; set; }

    public SafeTensorInfo? Up { get; set; }

    public SafeTensorInfo? Alpha { get; set; }

    /// <summary>Why the module is not applied, for a kind the merge does not support.</summary>
    public string? Unsupported { get; set; }

    /// <summary>The down projection as [rank, in·kh·kw], row-major.</summary>
    public float[] DownValues { get; set; } = [];

    /// <summary>The up projection as [out, rank], row-major.</summary>
    public float[] UpValues { get; set; } = [];

    /// <summary>The rank (rows of down).</summary>
    public int Rank { get; set; }

    /// <summary>Outputs (rows of up).</summary>
    public long OutFeatures => Up!.Shape[0];

    /// <summary>Inputs per output: in·kh·kw.</summary>
    public long InFeatures => Down!.Shape.Skip(1).Aggregate(1L, (a, d) => a * d);

    /// <summary>The kernel size of a convolution adapter ([kh, kw]), empty for a linear one.</summary>
    public long[] Kernel => Down!.Shape.Length == 4 ? Down.Shape[2..] : [];

    /// <summary>alpha / rank (or the format's equivalent).</summary>
    public double Scale { get; set; } = 1;

    /// <summary>Where the scale came from, for the report.</summary>
    public string ScaleSource { get; set; } = "";

    /// <summary>The key to name in messages: the down projection's, else the first.</summary>
    public string MainKey => Down?.Name ?? Up?.Name ?? Keys[0];
}
