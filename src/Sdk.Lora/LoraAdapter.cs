namespace Diffusion.Sdk.Lora;

/// <summary>
/// A LoRA adapter to merge into a model's weights when its sessions are created: a <c>.safetensors</c> file in the
/// kohya/A1111 or diffusers/PEFT format and its multiplier (A1111's <c>&lt;lora:name:0.8&gt;</c>, diffusers'
/// <c>set_adapters(weights=0.8)</c>). Weight 0 leaves the model exactly as it is without the adapter.
/// </summary>
/// <param name="Path">The adapter file.</param>
/// <param name="Weight">The multiplier (1: the adapter as trained; negative values subtract it).</param>
public sealed record LoraAdapter(string Path, double Weight = 1.0)
{
    /// <summary>The adapter as <c>FILE:WEIGHT</c>, as the command line takes it.</summary>
    public override string ToString() => $"{Path}:{Weight.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}";
}
