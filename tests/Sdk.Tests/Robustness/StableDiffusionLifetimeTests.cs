using Diffusion.Sdk.Tests.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusionXL;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>
/// The lifetime of a Stable Diffusion model and of every ONNX component in it (text encoders, UNet, VAE decoder and
/// encoder), for SD 1.x, SDXL and the SDXL refiner: use after dispose and dispose during each stage end with
/// <see cref="ObjectDisposedException"/>, never a native crash and never images from a disposed model. Each probe
/// runs in a child process (tests/Probes), where a crash fails one test instead of the test host.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class StableDiffusionLifetimeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    private static IEnumerable<TestCaseData> Families()
    {
        yield return new TestCaseData(SdFixture.ModelFolder).SetArgDisplayNames("SD");
        yield return new TestCaseData(SdxlFixture.BaseFolder).SetArgDisplayNames("SDXL");
        yield return new TestCaseData(SdxlFixture.RefinerFolder).SetArgDisplayNames("SDXL refiner");
    }

    private static IEnumerable<TestCaseData> Generators()
    {
        yield return new TestCaseData(SdFixture.ModelFolder).SetArgDisplayNames("SD");
        yield return new TestCaseData(SdxlFixture.BaseFolder).SetArgDisplayNames("SDXL");
    }

    [TestCaseSource(nameof(Families))]
    public void EveryUseAfterDisposeIsObjectDisposed(string folder)
    {
        var output = Probe.AssertOk("ObjectDisposedException", Timeout, "sd-use-after-dispose", folder);
        Assert.That(output, Does.Contain("EncodePrompt").And.Contain("GenerateAsync").And.Contain("vae_decoder").And.Contain("text_encoder"));
    }

    [TestCaseSource(nameof(Families))]
    public void DisposingDuringEachComponentsCallsStopsThemWithObjectDisposed(string folder)
    {
        var output = Probe.AssertOk("ObjectDisposedException", Timeout, "sd-component-dispose-during-call", folder);
        Assert.That(output, Does.Contain("vae_decoder after").And.Contain("vae_encoder after").And.Contain("text_encoder"));
    }

    [TestCaseSource(nameof(Generators))]
    public void DisposingDuringTextEncodingEndsTheRunWithObjectDisposed(string folder) =>
        Probe.AssertOk("ObjectDisposedException", Timeout, "sd-dispose-during-text-encoding", folder);

    [TestCaseSource(nameof(Generators))]
    public void DisposingTheServiceProviderDuringTheUnetEndsTheRunWithObjectDisposed(string folder) =>
        Probe.AssertOk("ObjectDisposedException", Timeout, "sd-dispose-provider-during-unet", folder);

    [TestCaseSource(nameof(Generators))]
    public void DisposingDuringVaeDecodingReturnsNoImages(string folder) =>
        Probe.AssertOk("ObjectDisposedException during decoding", Timeout, "sd-dispose-during-vae-decoding", folder);

    [Test]
    public void DisposingTheRefinerDuringItsStageEndsTheRunWithObjectDisposed() =>
        Probe.AssertOk("ObjectDisposedException", Timeout, "sd-dispose-refiner-during-its-stage", SdxlFixture.BaseFolder, SdxlFixture.RefinerFolder);
}
