using System.Globalization;
using System.Text.RegularExpressions;

namespace Diffusion.Sdk.StableDiffusion;

/// <summary>Finds a text encoder's per-layer outputs, named <c>hidden_states.N</c> by Optimum's exporter (transformers' <c>output_hidden_states=True</c>).</summary>
internal static partial class HiddenStateOutputs
{
    [GeneratedRegex(@"^hidden_states\.(\d+)$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    /// <summary>Index → output name, for every float rank-3 output so named.</summary>
    public static SortedDictionary<int, string> Find(OnnxComponent component)
    {
        var found = new SortedDictionary<int, string>();
        foreach (var (name, meta) in component.Outputs)
        {
            var match = Pattern().Match(name);
            if (match.Success && meta is { IsTensor: true, Dimensions.Length: 3 } && int.TryParse(match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
                found[index] = name;
        }
        return found;
    }
}
