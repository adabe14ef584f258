using Diffusion.Sdk.Tests.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusionXL;
using Diffusion.Sdk.Tests.TinySd;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>
/// The lifetime of a Stable Diffusion model and of every ONNX component in it (text encoders, UNet, VAE decoder and
/// encoder), for SD 1.x, SDXL, the SDXL refiner, LCM, an inpainting UNet and a model with a LoRA adapter merged: use after dispose and dispose during each stage end with
/// <see cref="ObjectDisposedException"/>, never a native crash and never images from a disposed model. Each probe
/// runs in a child process (tests/Probes), where a crash fails one test instead of the test host.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class StableDiffusionLifetimeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    // Each family's export, and the SD model with a LoRA adapter merged (its sessions take initializer overrides).
    private static IEnumerable<TestCaseData> Families()
    {
        yield return new TestCaseData((object)new[] { SdFixture.ModelFolder }).SetArgDisplayNames("SD");
        yield return new TestCaseData((object)new[] { SdxlFixture.BaseFolder }).SetArgDisplayNames("SDXL");
        yield return new TestCaseData((object)new[] { SdxlFixture.RefinerFolder }).SetArgDisplayNames("SDXL refiner");
        yield return new TestCaseData((object)new[] { LcmFixture.ModelFolder }).SetArgDisplayNames("LCM");
        yield return new TestCaseData((object)new[] { InpaintFixture.ModelFolder }).SetArgDisplayNames("inpainting");
        yield return new TestCaseData((object)new[] { TinySdModel.Folder, TinySdModel.BoldLora }).SetArgDisplayNames("SD with a LoRA");
    }

    // A refiner does not generate on its own (it is reached through the base's pipeline, DisposingTheRefiner…).
    private static IEnumerable<TestCaseData> Generators() => Families().Where(c => ((string[])c.Arguments[0]!)[0] != SdxlFixture.RefinerFolder);

    [TestCaseSource(nameof(Families))]
    public void EveryUseAfterDisposeIsObjectDisposed(string[] model)
    {
        var output = Probe.AssertOk("ObjectDisposedException", Timeout, ["sd-use-after-dispose", .. model]);
        Assert.That(output, Does.Contain("EncodePrompt").And.Contain("GenerateAsync").And.Contain("vae_decoder").And.Contain("text_encoder"));
    }

    [TestCaseSource(nameof(Families))]
    public void DisposingDuringEachComponentsCallsStopsThemWithObjectDisposed(string[] model)
    {
        var output = Probe.AssertOk("ObjectDisposedException", Timeout, ["sd-component-dispose-during-call", .. model]);
        Assert.That(output, Does.Contain("vae_decoder after").And.Contain("text_encoder"));
        if (Directory.Exists(Path.Combine(model[0], "vae_encoder"))) Assert.That(output, Does.Contain("vae_encoder after"));
    }

    [TestCaseSource(nameof(Generators))]
    public void DisposingDuringTextEncodingEndsTheRunWithObjectDisposed(string[] model) =>
        Probe.AssertOk("ObjectDisposedException", Timeout, ["sd-dispose-during-text-encoding", .. model]);

    [TestCaseSource(nameof(Generators))]
    public void DisposingTheServiceProviderDuringTheUnetEndsTheRunWithObjectDisposed(string[] model) =>
        Probe.AssertOk("ObjectDisposedException", Timeout, ["sd-dispose-provider-during-unet", .. model]);

    [TestCaseSource(nameof(Generators))]
    public void DisposingDuringVaeDecodingReturnsNoImages(string[] model) =>
        Probe.AssertOk("ObjectDisposedException during decoding", Timeout, ["sd-dispose-during-vae-decoding", .. model]);

    [Test]
    public void DisposingTheRefinerDuringItsStageEndsTheRunWithObjectDisposed() =>
        Probe.AssertOk("ObjectDisposedException", Timeout, "sd-dispose-refiner-during-its-stage", SdxlFixture.BaseFolder, SdxlFixture.RefinerFolder);
}
