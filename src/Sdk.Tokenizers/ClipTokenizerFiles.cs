using Diffusion.Sdk.Abstractions;
using System.Text.Json;

namespace Diffusion.Sdk.Tokenizers;

/// <summary>
/// Reads and checks the files of a Hugging Face CLIP tokenizer folder (<c>vocab.json</c>, <c>merges.txt</c>,
/// <c>tokenizer_config.json</c>, optionally <c>special_tokens_map.json</c>), raising a <see cref="TokenizerException"/>
/// that names the file for anything missing or malformed.
/// </summary>
internal sealed class ClipTokenizerFiles
{
    public const string VocabFile = "vocab.json";
    public const string MergesFile = "merges.txt";

    /// <summary>The largest tokenizer file read (CLIP's vocab.json is 1.6 MiB, merges.txt 0.5 MiB).</summary>
    public const long MaxFileBytes = 64L << 20;
    public const string ConfigFile = "tokenizer_config.json";
    public const string SpecialTokensFile = "special_tokens_map.json";

    /// <summary>
    /// The most merges read from <c>merges.txt</c>: CLIP's 49,152-entry BPE table less the 256 byte tokens and the two
    /// special tokens. transformers' CLIPTokenizer reads no more than this, and neither does openai's code.
    /// </summary>
    public const int MaxMerges = 49152 - 256 - 2;

    private ClipTokenizerFiles(Dictionary<string, int> vocabulary, List<string> merges, int modelMaxLength,
        string bosToken, string eosToken, string padToken, string? unknownToken)
    {
        Vocabulary = vocabulary;
        Merges = merges;
        ModelMaxLength = modelMaxLength;
        BosToken = bosToken;
        EosToken = eosToken;
        PadToken = padToken;
        UnknownToken = unknownToken;
    }

    public Dictionary<string, int> Vocabulary { get; }
    public List<string> Merges { get; }
    public int ModelMaxLength { get; }
    public string BosToken { get; }
    public string EosToken { get; }
    public string PadToken { get; }
    public string? UnknownToken { get; }

    public static ClipTokenizerFiles Read(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder))
            throw new TokenizerException(folder, "the tokenizer folder does not exist. Pass the model's 'tokenizer' folder (it holds vocab.json and merges.txt).");

        var vocabPath = Path.Combine(folder, VocabFile);
        var mergesPath = Path.Combine(folder, MergesFile);
        var configPath = Path.Combine(folder, ConfigFile);
        var specialPath = Path.Combine(folder, SpecialTokensFile);

        var config = ReadJsonObject(configPath, required: true)!.Value;
        var special = ReadJsonObject(specialPath, required: false);
        var vocabulary = ReadVocabulary(vocabPath);
        var merges = ReadMerges(mergesPath, vocabulary);

        var modelMaxLength = ReadModelMaxLength(config, configPath);
        // transformers lets special_tokens_map.json override tokenizer_config.json; CLIPTokenizer's defaults come last.
        string Token(string key, string fallback)
        {
            var (value, source) = ReadToken(special, specialPath, key) ?? ReadToken(config, configPath, key) ?? (fallback, configPath);
            if (!vocabulary.ContainsKey(value))
                throw new TokenizerException(source, $"'{key}' is \"{value}\", which is not in {VocabFile}. Use a token of the vocabulary (CLIP: \"<|endoftext|>\" or \"!\").");
            return value;
        }

        var bos = Token("bos_token", ClipPreTokenizer.StartOfText);
        var eos = Token("eos_token", ClipPreTokenizer.EndOfText);
        var pad = Token("pad_token", ClipPreTokenizer.EndOfText);
        var unknown = vocabulary.ContainsKey(ClipPreTokenizer.EndOfText) ? Token("unk_token", ClipPreTokenizer.EndOfText) : null;
        return new ClipTokenizerFiles(vocabulary, merges, modelMaxLength, bos, eos, pad, unknown);
    }

    private static JsonElement? ReadJsonObject(string path, bool required)
    {
        if (!File.Exists(path))
        {
            if (!required) return null;
            throw new TokenizerException(path, "the file is missing. A CLIP tokenizer folder needs vocab.json, merges.txt and tokenizer_config.json.");
        }
        try
        {
            using var document = JsonDocument.Parse(BoundedFile.ReadAllBytes(path, MaxFileBytes, problem => new TokenizerException(path, problem + ".", null)));
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new TokenizerException(path, $"expected a JSON object, found {document.RootElement.ValueKind}.");
            JsonText.EnsureValid(document.RootElement, problem => new TokenizerException(path, problem + "."));
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new TokenizerException(path, $"not valid JSON ({e.Message}).", e);
        }
    }

    private static Dictionary<string, int> ReadVocabulary(string path)
    {
        var root = ReadJsonObject(path, required: true)!.Value;
        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        var tokenById = new Dictionary<int, string>();
        foreach (var entry in root.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out var id) || id < 0)
                throw new TokenizerException(path, $"the id of token \"{entry.Name}\" is {entry.Value.GetRawText()}; every id must be a non-negative integer.");
            // Two tokens with one id would decode ambiguously, and the BPE's id-to-token table could not be built.
            if (tokenById.TryGetValue(id, out var other) && other != entry.Name)
                throw new TokenizerException(path, $"tokens \"{other}\" and \"{entry.Name}\" both have id {id}; every token needs its own id. The file is corrupt or was edited by hand.");
            if (vocabulary.TryGetValue(entry.Name, out var previous)) tokenById.Remove(previous);
            vocabulary[entry.Name] = id;
            tokenById[id] = entry.Name;
        }
        if (vocabulary.Count == 0)
            throw new TokenizerException(path, "the vocabulary is empty.");

        // Every byte of UTF-8 must have its single-character token, alone and at the end of a word, or some text
        // could not be encoded at all.
        foreach (var symbol in ClipByteMap.Symbols)
        {
            if (!vocabulary.ContainsKey(symbol) || !vocabulary.ContainsKey(symbol + ClipBpe.EndOfWord))
                throw new TokenizerException(path, $"the byte token \"{symbol}\" (or \"{symbol}{ClipBpe.EndOfWord}\") is missing; this is not a CLIP byte-level BPE vocabulary.");
        }
        return vocabulary;
    }

    private static List<string> ReadMerges(string path, Dictionary<string, int> vocabulary)
    {
        if (!File.Exists(path))
            throw new TokenizerException(path, "the file is missing. A CLIP tokenizer folder needs vocab.json, merges.txt and tokenizer_config.json.");
        var lines = new List<string>();
        using (var reader = new StringReader(BoundedFile.ReadAllText(path, MaxFileBytes, problem => new TokenizerException(path, problem + ".", null))))
            for (var line = reader.ReadLine(); line is not null; line = reader.ReadLine()) lines.Add(line);
        var count = lines.Count;
        while (count > 0 && lines[count - 1].Length == 0) count--;
        var first = count > 0 && lines[0].StartsWith("#version", StringComparison.Ordinal) ? 1 : 0;

        var merges = new List<string>(Math.Min(MaxMerges, Math.Max(0, count - first)));
        for (var index = first; index < count && merges.Count < MaxMerges; index++)
        {
            var line = lines[index];
            var parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw new TokenizerException(path, $"line {index + 1} is \"{line}\"; each merge must be two tokens separated by one space.");
            if (!vocabulary.ContainsKey(parts[0] + parts[1]))
                throw new TokenizerException(path, $"line {index + 1}: the merge \"{line}\" makes \"{parts[0] + parts[1]}\", which is not in {VocabFile}; the two files do not belong together.");
            merges.Add(line);
        }
        if (merges.Count == 0)
            throw new TokenizerException(path, "the file has no merges.");
        return merges;
    }

    private static int ReadModelMaxLength(JsonElement config, string path)
    {
        if (!config.TryGetProperty("model_max_length", out var value))
            throw new TokenizerException(path, "'model_max_length' is missing; set it to the text encoder's context length (77 for CLIP).");
        // Exports without a limit carry transformers' VERY_LARGE_INTEGER (1e30), which no CLIP text encoder accepts.
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var length) || length < 2 || length > 4096)
            throw new TokenizerException(path, $"'model_max_length' is {value.GetRawText()}; it must be the text encoder's context length, an integer from 2 to 4096 (77 for CLIP).");
        return length;
    }

    /// <summary>A special token given either as a string or as an AddedToken object <c>{"content": ...}</c>.</summary>
    private static (string Value, string Source)? ReadToken(JsonElement? file, string path, string key)
    {
        if (file is not { } root || !root.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind == JsonValueKind.String)
            return (value.GetString()!, path);
        if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
            return (content.GetString()!, path);
        throw new TokenizerException(path, $"'{key}' is {value.GetRawText()}; expected a string or an object with a string \"content\".");
    }
}
