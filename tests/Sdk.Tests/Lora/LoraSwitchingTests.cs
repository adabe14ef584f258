using Diffusion.Sdk.Lora;
using Diffusion.Sdk.Lora.SafeTensors;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Lora;

/// <summary>StableDiffusionModel.WithLoras: only the parts the adapters change get new sessions; the rest are shared and outlive the model they came from.</summary>
[TestFixture]
public sealed class LoraSwitchingTests
{
    private static readonly string Folder = Path.Combine(Path.GetTempPath(), "lora-switching-" + Environment.ProcessId);

    [OneTimeTearDown]
    public void RemoveFiles()
    {
        if (Directory.Exists(Folder)) Directory.Delete(Folder, recursive: true);
    }

    // K1's UNet modules only: an adapter that leaves the text encoder alone.
    private static string UnetOnlyAdapter()
    {
        var k1 = SafeTensorsFile.Open(LoraFixture.K1);
        var tensors = k1.Header.Tensors.Where(t => t.Name.StartsWith("lora_unet_", StringComparison.Ordinal))
            .Select(t => new SafeTensorsWriter.Tensor(t.Name, k1.ReadSingle(t), t.Shape));
        return SafeTensorsWriter.Write(Folder, "k1-unet-only.safetensors", SafeTensorsWriter.Build(tensors));
    }

    [Test]
    public async Task SwitchingRebuildsOnlyThePartsTheAdaptersTouch()
    {
        using var plain = StableDiffusionModel.Load(SdFixture.ModelFolder);
        using var unetOnly = plain.WithLoras([new LoraAdapter(UnetOnlyAdapter(), 0.8)]);
        Assert.That(unetOnly.SharesTextEncoderWith(plain), "the text encoder is untouched: shared");
        Assert.That(unetOnly.SharesUnetWith(plain), Is.False, "the UNet gets its merged weights");
        Assert.That(unetOnly.VaeDecoder, Is.SameAs(plain.VaeDecoder), "the VAE is never touched");

        using var zero = plain.WithLoras([new LoraAdapter(LoraFixture.K1, 0.0)]);
        Assert.That(zero.SharesTextEncoderWith(plain) && zero.SharesUnetWith(plain), "weight 0 changes nothing: everything shared");

        // From the UNet-only model to K1 at 0.8 and back: the R1 case, then the UNet shared again with the same adapter set.
        using var k1 = unetOnly.WithLoras(LoraFixture.Adapters(LoraFixture.Case("R1-kohya-k1-0.8")));
        Assert.That(k1.SharesTextEncoderWith(unetOnly), Is.False);
        Assert.That(k1.SharesUnetWith(unetOnly), Is.False, "another adapter file for the UNet: rebuilt");
        using var again = k1.WithLoras(LoraFixture.Adapters(LoraFixture.Case("R1-kohya-k1-0.8")));
        Assert.That(again.SharesTextEncoderWith(k1) && again.SharesUnetWith(k1), "the same adapters again: nothing is rebuilt");
        await StableDiffusionReferenceTests.RunAndCompare(new StableDiffusionPipeline(again, TestHost.Factory), LoraFixture.Case("R1-kohya-k1-0.8"));
    }

    [Test]
    public void ASharedPartOutlivesTheModelItCameFrom()
    {
        var plain = StableDiffusionModel.Load(SdFixture.ModelFolder);
        using var unetOnly = plain.WithLoras([new LoraAdapter(UnetOnlyAdapter(), 0.5)]);
        var c = LoraFixture.Case("R1-kohya-k1-0.8");
        var before = unetOnly.TextEncoder.Encode(c.PromptIds);
        plain.Dispose();
        Assert.That(unetOnly.TextEncoder.Encode(c.PromptIds), Is.EqualTo(before), "the shared text encoder still runs");
        Assert.Throws<ObjectDisposedException>(() => plain.WithLoras([]));
    }

    [Test]
    public void ABadAdapterWhenSwitchingLeavesTheModelAsItWas()
    {
        using var plain = StableDiffusionModel.Load(SdFixture.ModelFolder);
        var path = SafeTensorsWriter.Write(Folder, "cut.safetensors", File.ReadAllBytes(LoraFixture.K1)[..1000]);
        Assert.Throws<SafeTensorsException>(() => plain.WithLoras([new LoraAdapter(path)]));
        Assert.That(plain.TextEncoder.Encode(LoraFixture.Case("R1-kohya-k1-0.8").PromptIds), Has.Length.GreaterThan(0));
    }
}
