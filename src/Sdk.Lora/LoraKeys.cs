using System.Text.RegularExpressions;

namespace Diffusion.Sdk.Lora;

/// <summary>What one tensor key of an adapter file is.</summary>
internal enum LoraKeyRole
{
    /// <summary>The down projection (kohya <c>lora_down</c>, PEFT <c>lora_A</c>): [rank, in] or [rank, in, kh, kw].</summary>
    Down,
    /// <summary>The up projection (kohya <c>lora_up</c>, PEFT <c>lora_B</c>): [out, rank] or [out, rank, 1, 1].</summary>
    Up,
    /// <summary>The module's alpha (kohya, and diffusers' older files): scale = alpha / rank.</summary>
    Alpha,
    /// <summary>A kind of adapter tensor the merge does not apply (LoHa, LoKr, DoRA, Tucker cores, biases…).</summary>
    Unsupported,
    /// <summary>Not a key of any adapter format this reader knows.</summary>
    Unknown,
}

/// <summary>One key of an adapter file, split into its component, module and role.</summary>
/// <param name="Key">The key as in the file.</param>
/// <param name="Component">The model part: <c>unet</c>, <c>text_encoder</c>, <c>text_encoder_2</c>; null when the key names none.</param>
/// <param name="Module">The module part of the key (kohya: <c>down_blocks_0_…_to_q</c>; PEFT: <c>down_blocks.0.….to_q</c>).</param>
/// <param name="Role">What the tensor is.</param>
/// <param name="Kohya">Whether the key is in kohya's underscore form.</param>
/// <param name="Reason">For <see cref="LoraKeyRole.Unsupported"/> and <see cref="LoraKeyRole.Unknown"/>: why it is not applied.</param>
internal sealed record LoraKey(string Key, string? Component, string Module, LoraKeyRole Role, bool Kohya, string? Reason)
{
    /// <summary>The module's name split at every <c>.</c> and <c>_</c>: kohya's and PEFT's names of one module give the same tokens.</summary>
    public string[] Tokens => Module.Split(['.', '_'], StringSplitOptions.RemoveEmptyEntries);
}

/// <summary>
/// Splits adapter keys in the kohya/A1111 form (<c>lora_unet_…_to_q.lora_down.weight</c>, <c>lora_te_….alpha</c>)
/// and the diffusers/PEFT form (<c>unet.….to_q.lora_A.weight</c>, <c>text_encoder.….lora_B.weight</c>, and diffusers'
/// older <c>.lora.down.weight</c>, <c>.lora_linear_layer.up.weight</c> and attention-processor names).
/// </summary>
internal static partial class LoraKeys
{
    private static readonly (string Suffix, LoraKeyRole Role, string? Reason)[] Suffixes =
    [
        (".lora_down.weight", LoraKeyRole.Down, null),
        (".lora_up.weight", LoraKeyRole.Up, null),
        (".lora_A.weight", LoraKeyRole.Down, null),
        (".lora_B.weight", LoraKeyRole.Up, null),
        (".lora.down.weight", LoraKeyRole.Down, null),
        (".lora.up.weight", LoraKeyRole.Up, null),
        (".lora_linear_layer.down.weight", LoraKeyRole.Down, null),
        (".lora_linear_layer.up.weight", LoraKeyRole.Up, null),
        (".alpha", LoraKeyRole.Alpha, null),
        (".lora_mid.weight", LoraKeyRole.Unsupported, "LoCon with a Tucker core (lora_mid) is not supported"),
        (".dora_scale", LoraKeyRole.Unsupported, "DoRA (weight-decomposed LoRA) is not supported"),
        (".lora_magnitude_vector", LoraKeyRole.Unsupported, "DoRA (weight-decomposed LoRA) is not supported"),
        (".lora_magnitude_vector.weight", LoraKeyRole.Unsupported, "DoRA (weight-decomposed LoRA) is not supported"),
        (".lora_up.bias", LoraKeyRole.Unsupported, "LoRA biases are not supported"),
        (".lora_B.bias", LoraKeyRole.Unsupported, "LoRA biases are not supported"),
        (".lora_embedding_A", LoraKeyRole.Unsupported, "LoRA on embeddings is not supported"),
        (".lora_embedding_B", LoraKeyRole.Unsupported, "LoRA on embeddings is not supported"),
        (".diff", LoraKeyRole.Unsupported, "full weight differences (diff) are not supported"),
        (".diff_b", LoraKeyRole.Unsupported, "full bias differences (diff_b) are not supported"),
        (".w_norm", LoraKeyRole.Unsupported, "normalization-layer adapters are not supported"),
        (".b_norm", LoraKeyRole.Unsupported, "normalization-layer adapters are not supported"),
        (".oft_blocks", LoraKeyRole.Unsupported, "OFT/BOFT (LyCORIS) is not supported"),
        (".oft_diag", LoraKeyRole.Unsupported, "OFT/BOFT (LyCORIS) is not supported"),
        (".ia3_w", LoraKeyRole.Unsupported, "IA3 is not supported"),
    ];

    private static readonly (string Prefix, string Component)[] KohyaPrefixes =
        [("lora_unet_", "unet"), ("lora_te1_", "text_encoder"), ("lora_te2_", "text_encoder_2"), ("lora_te_", "text_encoder")];

    private static readonly (string Prefix, string Component)[] DottedPrefixes =
        [("unet.", "unet"), ("text_encoder_2.", "text_encoder_2"), ("text_encoder.", "text_encoder")];

    /// <summary>Splits <paramref name="key"/>.</summary>
    public static LoraKey Parse(string key)
    {
        var (stem, role, reason) = SplitSuffix(key);
        if (role == LoraKeyRole.Unknown)
            return new LoraKey(key, null, key, LoraKeyRole.Unknown, false, "not a key of a LoRA format this reader knows (kohya lora_down/lora_up/alpha, PEFT lora_A/lora_B)");
        foreach (var (prefix, component) in KohyaPrefixes)
            if (stem.StartsWith(prefix, StringComparison.Ordinal))
                return new LoraKey(key, component, stem[prefix.Length..], role, true, reason);
        foreach (var (prefix, component) in DottedPrefixes)
            if (stem.StartsWith(prefix, StringComparison.Ordinal))
                return new LoraKey(key, component, stem[prefix.Length..], role, false, reason);
        // peft's own save_pretrained of one model: no component, the module path under base_model.model.
        if (stem.StartsWith("base_model.model.", StringComparison.Ordinal))
        {
            var module = stem["base_model.model.".Length..];
            var component = module.StartsWith("text_model.", StringComparison.Ordinal) ? "text_encoder" : "unet";
            return new LoraKey(key, component, module, role, false, reason);
        }
        return new LoraKey(key, null, stem, role, stem.StartsWith("lora_", StringComparison.Ordinal), reason
            ?? "the key names no model part this SDK merges into (expected lora_unet_, lora_te_, lora_te1_, lora_te2_, unet., text_encoder. or text_encoder_2.)");
    }

    private static (string Stem, LoraKeyRole Role, string? Reason) SplitSuffix(string key)
    {
        // diffusers' attention-processor form: ….attn1.processor.to_q_lora.down.weight is module ….attn1.to_q.
        var processor = ProcessorKey().Match(key);
        if (processor.Success)
        {
            var projection = processor.Groups[2].Value == "to_out" ? "to_out.0" : processor.Groups[2].Value;
            return (processor.Groups[1].Value + "." + projection, processor.Groups[3].Value == "down" ? LoraKeyRole.Down : LoraKeyRole.Up, null);
        }
        foreach (var (suffix, role, reason) in Suffixes)
            if (key.EndsWith(suffix, StringComparison.Ordinal) && key.Length > suffix.Length)
                return (key[..^suffix.Length], role, reason);
        foreach (var kind in (string[])["hada_", "lokr_"])
        {
            var at = key.LastIndexOf("." + kind, StringComparison.Ordinal);
            if (at > 0)
                return (key[..at], LoraKeyRole.Unsupported, kind == "hada_" ? "LoHa (LyCORIS) is not supported" : "LoKr (LyCORIS) is not supported");
        }
        return (key, LoraKeyRole.Unknown, null);
    }

    [GeneratedRegex(@"^(.*)\.processor\.(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$", RegexOptions.CultureInvariant)]
    private static partial Regex ProcessorKey();
}
