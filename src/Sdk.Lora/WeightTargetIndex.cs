using Diffusion.Sdk.Lora.OnnxGraph;

namespace Diffusion.Sdk.Lora;

/// <summary>
/// Every weight of one ONNX export that a LoRA module can update, findable by the module's name. A weight is input 1
/// of a <c>MatMul</c>, <c>Gemm</c> or <c>Conv</c> node that is an initializer (or the <c>Transpose</c> of one). It is
/// known by two names: the node's scope, which torch's exporter writes as the module path with <c>/</c> between
/// modules (<c>/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul</c>); and, where the initializer
/// keeps its parameter name (<c>down_blocks.0.resnets.0.conv1.weight</c>), that name. A scope lists only modules
/// whose <c>forward</c> ran (a CLIP export may read <c>/text_model/layers.0/…</c> for module
/// <c>text_model.encoder.layers.0.…</c>), so a scope matches a module when its segments appear in the module's name
/// in order, each whole, the last at the end; the match covering most of the name wins. Segments above the module's
/// first token (an export wrapper's <c>/unet/…</c>) are allowed once the whole name is matched.
/// </summary>
internal sealed class WeightTargetIndex
{
    private sealed record Candidate(string[][] Groups, bool Exact, WeightTarget Target, string Name);

    private readonly Dictionary<string, List<Candidate>> _byLastToken = new(StringComparer.Ordinal);

    public WeightTargetIndex(OnnxModelGraph graph)
    {
        Graph = graph;
        foreach (var node in graph.Nodes)
        {
            if (node.OpType is not ("MatMul" or "Gemm" or "Conv") || node.Inputs.Count < 2) continue;
            if (Resolve(graph, node) is not { } target) continue;
            Count++;
            if (node.Name.StartsWith('/'))
            {
                var segments = node.Name.Split('/', StringSplitOptions.RemoveEmptyEntries);
                if (segments.Length >= 2)
                    Add(new Candidate(segments[..^1].Select(Tokenize).ToArray(), false, target, node.Name));
            }
            var name = target.Initializer.Name;
            if (!name.StartsWith("onnx::", StringComparison.Ordinal) && name.EndsWith(".weight", StringComparison.Ordinal) && name.Length > 7)
                Add(new Candidate([Tokenize(name[..^7])], true, target, name));
        }
    }

    public OnnxModelGraph Graph { get; }

    /// <summary>How many weights the export has that an adapter could update.</summary>
    public int Count { get; }

    /// <summary>The weight a module named by <paramref name="tokens"/> updates; or null with the reason.</summary>
    public WeightTarget? Find(string[] tokens, out string? problem)
    {
        problem = null;
        if (tokens.Length == 0 || !_byLastToken.TryGetValue(tokens[^1], out var candidates))
        {
            problem = "no weight of the export belongs to a module of that name";
            return null;
        }
        var best = -1;
        var found = new List<Candidate>();
        foreach (var c in candidates)
        {
            var score = c.Exact ? (tokens.SequenceEqual(c.Groups[0]) ? int.MaxValue : -1) : Score(tokens, c.Groups);
            if (score < 0 || score < best) continue;
            if (score > best) found.Clear();
            best = score;
            found.Add(c);
        }
        var targets = found.Select(c => c.Target).DistinctBy(t => t.Initializer.Name).ToList();
        if (targets.Count == 1) return targets[0];
        problem = targets.Count == 0
            ? "no weight of the export belongs to a module of that name"
            : $"the name matches several weights of the export equally well ({string.Join(", ", found.Select(c => c.Name).Distinct().Take(4))})";
        return null;
    }

    // Segments matched right to left, each as a whole run of tokens placed as far right as it fits: the last must end
    // the name; skipped tokens are modules the scope does not list. Once the name's first token is matched, the scope's
    // remaining outer segments are modules above the one the adapter was made for: the wrapper an exporter put around
    // it (`/unet/down_blocks.0/…` when the UNet was exported as attribute `unet` of a wrapper), not a mismatch. The
    // score is the number of tokens matched.
    private static int Score(string[] tokens, string[][] groups)
    {
        var end = tokens.Length;
        var matched = 0;
        for (var g = groups.Length - 1; g >= 0 && end > 0; g--)
        {
            var group = groups[g];
            var start = end - group.Length;
            if (g < groups.Length - 1)
                while (start >= 0 && !tokens.AsSpan(start, group.Length).SequenceEqual(group)) start--;
            if (start < 0 || !tokens.AsSpan(start, group.Length).SequenceEqual(group)) return -1;
            matched += group.Length;
            end = start;
        }
        return matched;
    }

    private void Add(Candidate candidate)
    {
        var last = candidate.Groups[^1][^1];
        if (!_byLastToken.TryGetValue(last, out var list)) _byLastToken[last] = list = [];
        list.Add(candidate);
    }

    private static string[] Tokenize(string name) => name.Split(['.', '_'], StringSplitOptions.RemoveEmptyEntries);

    private static WeightTarget? Resolve(OnnxModelGraph graph, OnnxNode node)
    {
        var input = node.Inputs[1];
        var transB = node.IntAttributes.GetValueOrDefault("transB") == 1;
        OnnxInitializer? initializer;
        WeightLayout layout;
        string? problem = null;
        if (graph.Initializers.TryGetValue(input, out initializer))
        {
            layout = node.OpType == "Conv" || (node.OpType == "Gemm" && transB) ? WeightLayout.Torch : WeightLayout.Transposed;
        }
        else if (graph.Producers.TryGetValue(input, out var producer) && producer.OpType == "Transpose" && producer.Inputs.Count == 1
                 && graph.Initializers.TryGetValue(producer.Inputs[0], out initializer)
                 && (!producer.IntsAttributes.TryGetValue("perm", out var perm) || perm.SequenceEqual([1L, 0L])))
        {
            // The weight is transposed in the graph: the initializer itself is stored the other way round.
            layout = node.OpType == "Gemm" && transB ? WeightLayout.Transposed : WeightLayout.Torch;
            if (graph.Consumers.GetValueOrDefault(input) > 1)
                problem = $"its transpose '{input}' is read by {graph.Consumers[input]} nodes";
        }
        else
        {
            return null;
        }
        var rank = node.OpType == "Conv" ? 4 : 2;
        if (initializer.Dims.Length != rank) return null;
        if (node.OpType == "Conv" && node.IntAttributes.GetValueOrDefault("group", 1) != 1)
            problem = $"it is a grouped convolution (group = {node.IntAttributes["group"]})";
        if (initializer.DataType is not (OnnxInitializer.Float or OnnxInitializer.Float16 or OnnxInitializer.BFloat16))
            problem = $"it is {initializer.TypeName}, and only float32, float16 and bfloat16 weights are merged";
        var consumers = graph.Consumers.GetValueOrDefault(initializer.Name);
        if (consumers > 1)
            problem = $"the export shares initializer '{initializer.Name}' between {consumers} nodes (it deduplicated equal weights), so merging into it would change the others too";
        return new WeightTarget(initializer, node, layout, problem);
    }
}
