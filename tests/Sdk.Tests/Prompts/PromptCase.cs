using System.Collections.Concurrent;
using System.Text.Json;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusion;
using Diffusion.Sdk.Tokenizers;

namespace Diffusion.Sdk.Tests.Prompts;

/// <summary>One case of a <c>prompts/cases.json</c> (TestData/prompts/README.md): what diffusers' long-prompt-weighting pipeline made of a prompt.</summary>
public sealed class PromptCase
{
    private static readonly ConcurrentDictionary<string, Lazy<StableDiffusionModel>> Models = new(StringComparer.Ordinal);

    private PromptCase(string file, JsonElement root)
    {
        File = file;
        Root = root;
    }

    /// <summary>The cases.json this case came from.</summary>
    public string File { get; }

    public JsonElement Root { get; }

    public string Id => Root.GetProperty("id").GetString()!;

    public JsonElement Inputs => Root.GetProperty("inputs");

    public string Prompt => Inputs.GetProperty("prompt").GetString()!;

    /// <summary>The negative prompt given (null: none), as the reference was called.</summary>
    public string? NegativePrompt => Inputs.GetProperty("negative_prompt").GetString();

    /// <summary>The text lpw encoded as the unconditional prompt ("" when none was given), or null when it encoded none.</summary>
    public string? UnconditionalText => Inputs.TryGetProperty("uncond_text_used", out var u) ? u.GetString() : null;

    public int MaxWindows => Inputs.GetProperty("max_embeddings_multiples").GetInt32();

    public int WindowCount => Root.GetProperty("n_chunks").GetInt32();

    public bool HasPipelineRun => Root.TryGetProperty("pipeline_run", out var r) && r.ValueKind == JsonValueKind.Object;

    public JsonElement PipelineRun => Root.GetProperty("pipeline_run");

    /// <summary>The parse of the prompt (<c>"prompt"</c>) or of the negative prompt (<c>"negative"</c>).</summary>
    public WeightedText[] Parsed(string which) => Root.GetProperty(which + "_parsed").EnumerateArray()
        .Select(e => new WeightedText(e[0].GetString()!, e[1].GetDouble())).ToArray();

    public int[] Ints(string key) => Root.GetProperty(key).EnumerateArray().Select(e => e.GetInt32()).ToArray();

    public double[] Doubles(string key) => Root.GetProperty(key).EnumerateArray().Select(e => e.GetDouble()).ToArray();

    public int[][] Windows(string which) => Root.GetProperty(which + "_chunk_ids").EnumerateArray()
        .Select(w => w.EnumerateArray().Select(e => e.GetInt32()).ToArray()).ToArray();

    public double[] Tensor(string key) => Root.GetProperty(key).GetProperty("values").EnumerateArray().Select(e => e.GetDouble()).ToArray();

    public int[] Shape(string key) => Root.GetProperty(key).GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();

    public float Scalar(string key) => Root.GetProperty(key).GetSingle();

    /// <summary>
    /// The model the case ran on: its path relative to cases.json when that exists (the reference's own layout), else
    /// the test data's copy of the same fixture (<c>../pipelines/sd-tiny-legacy/model</c> is <c>TestData/sd-tiny-legacy/model</c>).
    /// </summary>
    public StableDiffusionModel Model
    {
        get
        {
            var named = Root.GetProperty("model").GetString()!;
            var relative = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(File)!, named));
            var folder = Directory.Exists(relative) ? relative
                : TestData.Path(Path.GetFileName(Path.GetDirectoryName(named.TrimEnd('/'))!), Path.GetFileName(named.TrimEnd('/')));
            if (!Directory.Exists(folder)) Assert.Fail($"{Id}: the model '{named}' is neither beside {File} nor in TestData ({folder}).");
            if (Path.GetFullPath(folder) == Path.GetFullPath(SdFixture.ModelFolder)) return SdFixture.Model;
            return Models.GetOrAdd(folder, f => new Lazy<StableDiffusionModel>(() => StableDiffusionModel.Load(f))).Value;
        }
    }

    public ClipTokenizer Tokenizer => ((ClipPromptTokenizer)Model.Tokenizer).Tokenizer;

    /// <summary>The cases of TestData/prompts, then those of <c>$DIFFUSION_REFERENCE_DIR/prompts</c> when it has any.</summary>
    public static IReadOnlyList<PromptCase> All => AllLazy.Value;

    private static readonly Lazy<IReadOnlyList<PromptCase>> AllLazy = new(() =>
    {
        var files = new List<string> { TestData.Path("prompts", "cases.json") };
        if (TestData.ExternalReferenceDirectory is { } external && System.IO.File.Exists(Path.Combine(external, "prompts", "cases.json")))
            files.Add(Path.Combine(external, "prompts", "cases.json"));
        var cases = new List<PromptCase>();
        foreach (var file in files)
        {
            using var document = JsonDocument.Parse(System.IO.File.ReadAllText(file));
            foreach (var c in document.RootElement.GetProperty("cases").EnumerateArray())
                cases.Add(new PromptCase(file, c.Clone()));
        }
        return cases;
    });

    /// <summary>Every case, as its index in <see cref="All"/> (named by its id).</summary>
    public static IEnumerable<TestCaseData> Cases() => All.Select((c, i) => new TestCaseData(i).SetName(c.Id));

    /// <summary>The cases whose embeddings the reference found bit-identical to the standard pipeline's.</summary>
    public static IEnumerable<TestCaseData> PlainCases() =>
        All.Select((c, i) => (c, i)).Where(x => x.c.Root.GetProperty("equals_standard_pipeline_embeds").GetBoolean()).Select(x => new TestCaseData(x.i).SetName(x.c.Id));

    /// <summary>The cases with a whole pipeline run.</summary>
    public static IEnumerable<TestCaseData> PipelineCases() =>
        All.Select((c, i) => (c, i)).Where(x => x.c.HasPipelineRun).Select(x => new TestCaseData(x.i).SetName(x.c.Id));
}
