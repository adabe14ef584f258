using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Text.Json;
using System.Text.Json.Nodes;
using Diffusion.Sdk.Tokenizers;

namespace Diffusion.Sdk.Tests.Tokenizers;

/// <summary>The bundled CLIP tokenizer folders, shared by the tokenizer tests, and scratch copies to alter.</summary>
internal static class TokenizerFolders
{
    /// <summary>SD 1.x's tokenizer (pads with &lt;|endoftext|&gt;), as the reference ships it.</summary>
    public static string Clip => TestData.Path("tokenizer", "clip");

    private static readonly Lazy<ClipTokenizer> Sd1Lazy = new(() => ClipTokenizer.FromFolder(Clip));
    private static readonly Lazy<ClipTokenizer> Sd2Lazy = new(() =>
    {
        using var folder = new ScratchFolder();
        folder.EditJson("tokenizer_config.json", config => config["pad_token"] = "!");
        folder.EditJson("special_tokens_map.json", map => map["pad_token"] = "!");
        return ClipTokenizer.FromFolder(folder.Path);
    });

    public static ClipTokenizer Sd1 => Sd1Lazy.Value;

    /// <summary>The same vocabulary with SD 2.x's padding, <c>pad_token "!"</c>.</summary>
    public static ClipTokenizer Sd2 => Sd2Lazy.Value;

    public static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    public static string[] Strings(JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!).ToArray();
}

/// <summary>A temporary copy of the bundled CLIP tokenizer folder, deleted on dispose.</summary>
internal sealed class ScratchFolder : IDisposable
{
    public ScratchFolder()
    {
        Path = Directory.CreateTempSubdirectory("clip-tokenizer-").FullName;
        foreach (var file in Directory.EnumerateFiles(TokenizerFolders.Clip))
        {
            var name = System.IO.Path.GetFileName(file);
            if (name is "vocab.json" or "merges.txt" or "tokenizer_config.json" or "special_tokens_map.json")
                System.IO.File.Copy(file, File(name));
        }
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void EditJson(string name, Action<JsonObject> edit)
    {
        var node = JsonNode.Parse(System.IO.File.ReadAllText(File(name)))!.AsObject();
        edit(node);
        System.IO.File.WriteAllText(File(name), node.ToJsonString());
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
