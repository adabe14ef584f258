using Diffusion.Sdk.Lora;
using Diffusion.Sdk.Lora.SafeTensors;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusion;

namespace Diffusion.Sdk.Tests.Lora;

/// <summary>
/// Adapters that cannot be applied: each is a typed error naming the file and the key, raised while the model loads,
/// before any session exists; and adapters that partly match, whose report says what was left out and why.
/// </summary>
[TestFixture]
public sealed class LoraBadInputTests
{
    private static readonly string Folder = Path.Combine(Path.GetTempPath(), "lora-bad-input-" + Environment.ProcessId);

    private const string ToQ = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";

    [OneTimeTearDown]
    public void RemoveFiles()
    {
        if (Directory.Exists(Folder)) Directory.Delete(Folder, recursive: true);
    }

    private static float[] Values(int count, float scale = 0.01f) => Enumerable.Range(0, count).Select(i => scale * ((i % 7) - 3)).ToArray();

    private static string Adapter(string name, params SafeTensorsWriter.Tensor[] tensors) => SafeTensorsWriter.Write(Folder, name, SafeTensorsWriter.Build(tensors));

    private static T LoadFails<T>(string path) where T : Exception =>
        Assert.Throws<T>(() => StableDiffusionModel.Load(SdFixture.ModelFolder, new StableDiffusionOptions { Loras = [new LoraAdapter(path, 0.8)] }).Dispose())!;

    [Test]
    public void ATruncatedAdapter()
    {
        var bytes = File.ReadAllBytes(LoraFixture.K1);
        var path = SafeTensorsWriter.Write(Folder, "truncated.safetensors", bytes[..(bytes.Length - 1000)]);
        var e = LoadFails<SafeTensorsException>(path);
        Assert.That(e.FilePath, Is.EqualTo(path));
        Assert.That(e.Key, Does.StartWith("lora_"), "the tensor whose data is cut");
        Assert.That(e.Message, Does.Contain("truncated"));
    }

    [Test]
    public void AHeaderPointingPastTheFile()
    {
        var path = SafeTensorsWriter.Write(Folder, "past-end.safetensors",
            SafeTensorsWriter.Raw($$$"""{"{{{ToQ}}}.lora_down.weight":{"dtype":"F32","shape":[4,32],"data_offsets":[0,512]}}""", new byte[512], declaredLength: 1_000_000));
        var e = LoadFails<SafeTensorsException>(path);
        Assert.That(e.FilePath, Is.EqualTo(path));
        Assert.That(e.Message, Does.Contain("points past the end of the file"));
    }

    [Test]
    public void ADTypeThatIsNotRead()
    {
        var path = SafeTensorsWriter.Write(Folder, "dtype.safetensors",
            SafeTensorsWriter.Raw($$$"""{"{{{ToQ}}}.lora_down.weight":{"dtype":"F4","shape":[4,32],"data_offsets":[0,128]}}""", new byte[128]));
        var e = LoadFails<SafeTensorsException>(path);
        Assert.That(e.Key, Is.EqualTo($"{ToQ}.lora_down.weight"));
        Assert.That(e.Message, Does.Contain("unknown dtype 'F4'"));

        var ints = Adapter("int-dtype.safetensors", new($"{ToQ}.lora_down.weight", Values(128), [4, 32], "F32"), new($"{ToQ}.lora_up.weight", Values(128), [32, 4], "F32"));
        var bytes = File.ReadAllBytes(ints);
        var text = System.Text.Encoding.ASCII.GetString(bytes);
        var at = text.IndexOf("\"F32\"", text.IndexOf("lora_up", StringComparison.Ordinal), StringComparison.Ordinal);
        System.Text.Encoding.ASCII.GetBytes("\"I32\"").CopyTo(bytes, at);
        File.WriteAllBytes(ints, bytes);
        var e2 = LoadFails<SafeTensorsException>(ints);
        Assert.That(e2.Key, Is.EqualTo($"{ToQ}.lora_up.weight"), "a known dtype that is not floating point");
    }

    [Test]
    public void ARankMismatch()
    {
        var path = Adapter("rank.safetensors", new($"{ToQ}.lora_down.weight", Values(128), [4, 32]), new($"{ToQ}.lora_up.weight", Values(96), [32, 3]), new($"{ToQ}.alpha", [2f], []));
        var e = LoadFails<LoraAdapterException>(path);
        Assert.That(e.FilePath, Is.EqualTo(path));
        Assert.That(e.Key, Is.EqualTo($"{ToQ}.lora_down.weight"));
        Assert.That(e.Message, Does.Contain("rank mismatch"));
    }

    [Test]
    public void APeftRankThatDisagreesWithItsMetadata()
    {
        var bytes = SafeTensorsWriter.Build(
            [new("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight", Values(128), [4, 32]),
             new("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_B.weight", Values(128), [32, 4])],
            new Dictionary<string, string> { ["format"] = "pt", ["lora_adapter_metadata"] = """{"unet.r": 8, "unet.lora_alpha": 8}""" });
        var e = LoadFails<LoraAdapterException>(SafeTensorsWriter.Write(Folder, "peft-rank.safetensors", bytes));
        Assert.That(e.Message, Does.Contain("rank mismatch").And.Contain("r = 8"));
    }

    [Test]
    public void AnAdapterForAnotherArchitecture()
    {
        // SD 1.5's cross-attention takes 768 features; this export's takes 32: same module name, other shapes.
        const string toK = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k";
        var path = Adapter("sd15.safetensors", new($"{toK}.lora_down.weight", Values(4 * 768), [4, 768]), new($"{toK}.lora_up.weight", Values(128), [32, 4]));
        var e = LoadFails<LoraAdapterException>(path);
        Assert.That(e.Key, Is.EqualTo($"{toK}.lora_down.weight"));
        Assert.That(e.Message, Does.Contain("another model architecture"));

        // SDXL kohya names (the original UNet's input_blocks…): nothing matches at all.
        const string sdxl = "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q";
        var xl = Adapter("sdxl.safetensors", new($"{sdxl}.lora_down.weight", Values(4 * 640), [4, 640]), new($"{sdxl}.lora_up.weight", Values(2560), [640, 4]));
        var e2 = LoadFails<LoraAdapterException>(xl);
        Assert.That(e2.Message, Does.Contain("nothing in it can be applied").And.Contain("input_blocks"));
    }

    [Test]
    public void AnIncompleteModuleOrNonFiniteValues()
    {
        var half = Adapter("half.safetensors", new SafeTensorsWriter.Tensor($"{ToQ}.lora_down.weight", Values(128), [4, 32]));
        Assert.That(LoadFails<LoraAdapterException>(half).Message, Does.Contain("no up projection"));
        var values = Values(128);
        values[5] = float.NaN;
        var nan = Adapter("nan.safetensors", new($"{ToQ}.lora_down.weight", values, [4, 32]), new($"{ToQ}.lora_up.weight", Values(128), [32, 4]));
        Assert.That(LoadFails<LoraAdapterException>(nan).Key, Is.EqualTo($"{ToQ}.lora_down.weight"));
    }

    [Test]
    public void AnAdapterWithNoLoraKeys() =>
        Assert.That(LoadFails<LoraAdapterException>(Adapter("none.safetensors", new SafeTensorsWriter.Tensor("model.weight", Values(4), [4]))).Message, Does.Contain("nothing in it can be applied"));

    [Test]
    public void PartlyMatchingAdaptersLoadAndReportWhatWasLeftOut()
    {
        var loha = "lora_unet_mid_block_attentions_0_proj_in";
        var path = Adapter("partly.safetensors",
            new($"{ToQ}.lora_down.weight", Values(128), [4, 32]), new($"{ToQ}.lora_up.weight", Values(128), [32, 4]),
            new("lora_unet_no_such_block_to_q.lora_down.weight", Values(128), [4, 32]), new("lora_unet_no_such_block_to_q.lora_up.weight", Values(128), [32, 4]),
            new($"{loha}.hada_w1_a", Values(128), [32, 4]),
            new("lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", Values(128), [4, 32]), new("lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight", Values(128), [32, 4]),
            new("something_else", Values(4), [4]));
        using var model = StableDiffusionModel.Load(SdFixture.ModelFolder, new StableDiffusionOptions { Loras = [new LoraAdapter(path, 1)] });
        var report = model.Lora.Adapters.Single();
        Assert.That(report.Applied.Select(m => m.Module), Is.EqualTo(new[] { ToQ["lora_unet_".Length..] }));
        var reasons = report.NotApplied.ToDictionary(m => m.Module, m => m.Reason);
        Assert.That(reasons["no_such_block_to_q"], Does.Contain("no weight of the export"));
        Assert.That(reasons["mid_block_attentions_0_proj_in"], Does.Contain("LoHa"));
        Assert.That(reasons["text_model_encoder_layers_0_mlp_fc1"], Does.Contain("no text_encoder_2"));
        Assert.That(report.IgnoredKeys.Select(k => k.Key), Is.EqualTo(new[] { "something_else" }));
        Assert.That(model.Lora.ToString(), Does.Contain("1 of 4 modules applied"));
    }
}
