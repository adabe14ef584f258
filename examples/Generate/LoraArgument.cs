using System.Globalization;
using Diffusion.Sdk.Lora;

namespace Generate;

/// <summary>Reads one <c>--lora FILE[:WEIGHT]</c> value.</summary>
internal static class LoraArgument
{
    /// <summary>The adapter: the text after the last colon is the weight when it is a number (so <c>C:\x.safetensors</c> and <c>a:b.safetensors</c> stay paths); null when that number is not finite.</summary>
    public static LoraAdapter? Parse(string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon > 0 && double.TryParse(text[(colon + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var weight))
            return double.IsFinite(weight) ? new LoraAdapter(text[..colon], weight) : null;
        return new LoraAdapter(text, 1.0);
    }
}
