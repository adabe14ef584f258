using System.Text.Json;

namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// Checks that every name and string of a parsed JSON document is text. JSON may escape half of a UTF-16 surrogate pair
/// on its own (<c>"\uDDDD"</c>); the parser accepts it, and reading that name or string later throws
/// <see cref="InvalidOperationException"/> from wherever it is first read. Checked once, right after parsing, it is the
/// caller's typed error instead (the tokenizer fuzzer found it in <c>vocab.json</c>).
/// </summary>
public static class JsonText
{
    /// <summary>Reads every property name and string value under <paramref name="root"/> once.</summary>
    /// <param name="root">The parsed document's root.</param>
    /// <param name="refuse">Makes the caller's typed error from a sentence that names the bad value.</param>
    /// <exception cref="Exception">What <paramref name="refuse"/> makes, for the first name or string that is not text.</exception>
    public static void EnsureValid(JsonElement root, Func<string, Exception> refuse)
    {
        ArgumentNullException.ThrowIfNull(refuse);
        Visit(root, refuse);
    }

    private static void Visit(JsonElement element, Func<string, Exception> refuse)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    Read(() => property.Name, property.ToString(), refuse);
                    Visit(property.Value, refuse);
                }
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray()) Visit(item, refuse);
                break;
            case JsonValueKind.String:
                Read(() => element.GetString(), element.GetRawText(), refuse);
                break;
        }
    }

    private static void Read(Func<string?> read, string raw, Func<string, Exception> refuse)
    {
        try
        {
            read();
        }
        catch (InvalidOperationException)
        {
            var shown = raw.Length > 80 ? raw[..80] + "…" : raw;
            throw refuse($"{shown} escapes an unpaired UTF-16 surrogate, which is valid JSON but not text");
        }
    }
}
