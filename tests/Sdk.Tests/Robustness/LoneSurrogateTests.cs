using System.Text;
using Diffusion.Sdk.Fuzz;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>
/// JSON may escape half of a UTF-16 surrogate pair on its own (<c>"\uDDDD"</c>): valid JSON, but no valid string, and
/// System.Text.Json throws <see cref="InvalidOperationException"/> when such a name or value is read as text. The
/// tokenizer fuzzer found it in <c>vocab.json</c> (its input stays in the corpus); the same class is checked in every
/// parser that reads JSON text: each refuses with its typed error, checked once right after parsing (JsonText).
/// </summary>
[TestFixture]
public sealed class LoneSurrogateTests
{
    private const string Lone = "\\uDDDD";
    private const string Cut = "\n--8<--\n";

    private static IEnumerable<TestCaseData> Inputs()
    {
        var vocab = "{\"a</w>\": 0, \"" + Lone + "\": 1}";
        yield return new TestCaseData("tokenizer", vocab + Cut + "#version: 0.2\n" + Cut + "{}" + Cut + "a").SetArgDisplayNames("vocab.json key");
        yield return new TestCaseData("tokenizer", "{\"a</w>\": 0}" + Cut + "#version: 0.2\n" + Cut + "{\"pad_token\": \"" + Lone + "\"}" + Cut + "a").SetArgDisplayNames("tokenizer_config.json value");
        yield return new TestCaseData("scheduler-config", "{\"" + Lone + "\": 1}").SetArgDisplayNames("scheduler_config.json key");
        yield return new TestCaseData("scheduler-config", "{\"timestep_spacing\": \"" + Lone + "\"}").SetArgDisplayNames("scheduler_config.json value");
        yield return new TestCaseData("model-config", "{\"_class_name\": \"" + Lone + "\"}").SetArgDisplayNames("model_index.json value");
        yield return new TestCaseData("model-config", "{\"" + Lone + "\": 1}").SetArgDisplayNames("model_index.json key");
        yield return new TestCaseData("safetensors", SafeTensors("{\"" + Lone + "\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}")).SetArgDisplayNames("safetensors tensor name");
        yield return new TestCaseData("safetensors", SafeTensors("{\"__metadata__\": {\"format\": \"" + Lone + "\"}}")).SetArgDisplayNames("safetensors metadata");
    }

    [TestCaseSource(nameof(Inputs))]
    public void IsRefusedWithTheParsersTypedError(string target, string input)
    {
        try
        {
            FuzzTargets.All[target](Encoding.Latin1.GetBytes(input));
            Assert.That(target, Is.EqualTo("model-config"), "only a config's unread keys may pass unnoticed (loading never reads them)");
        }
        catch (Exception error) when (!FuzzTargets.IsTypedRefusal(error))
        {
            Assert.Fail($"{error.GetType().Name}: {error.Message}");
        }
        catch (Exception error)
        {
            Assert.That(error.Message, Does.Contain("surrogate"));
        }
    }

    [Test]
    public void TheFuzzersFindingIsInTheCorpus() =>
        Assert.That(File.Exists(Path.Combine(TestData.Root, "..", "fuzz-corpus", "tokenizer", "finding-lone-surrogate-escape")), Is.True);

    // A safetensors file: the header's length (8 bytes, little-endian), the header, then 4 bytes of data.
    private static string SafeTensors(string header) =>
        Encoding.Latin1.GetString(BitConverter.GetBytes((long)header.Length)) + header + "\0\0\0\0";
}
