using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusionXL;
using Diffusion.Sdk.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>
/// Stable Diffusion folders whose files do not fit each other, state unusable sizes, or compute NaN: each is a typed
/// error naming the file (and, for a mismatch, both files and both values) before any work, or, for NaN, naming the
/// component that produced it.
/// </summary>
[TestFixture]
public sealed class StableDiffusionFilesRobustnessTests
{
    private static StableDiffusionRequest Small => new() { Prompt = "a cat", Steps = 2, GuidanceScale = 5, Seed = 1, Width = 64, Height = 64 };

    [Test]
    public void ATextEncoderReturningNaNIsAnErrorNamingIt()
    {
        using var encoder = new OnnxTextEncoder(OnnxComponent.Open(TestData.Path("sd-synthetic", "text_encoder_nan.onnx"), "text encoder", new OnnxModelOptions(), NullLogger.Instance));
        var e = Assert.Throws<NonFiniteOutputException>(() => encoder.Encode([49406, 320, 49407]))!;
        Assert.That(e.Message, Does.Contain("text encoder").And.Contain("text_encoder_nan.onnx").And.Contain("NaN"));

        using var copy = new ModelFolderCopy(SdFixture.ModelFolder);
        copy.Replace("text_encoder/model.onnx", TestData.Path("sd-synthetic", "text_encoder_nan.onnx"));
        using var model = StableDiffusionModel.Load(copy.Path);
        var steps = 0;
        var run = Assert.Throws<NonFiniteOutputException>(() => new StableDiffusionPipeline(model, TestHost.Factory).Generate(Small with { OnStep = (_, _) => steps++ }))!;
        Assert.That(run.File, Does.EndWith("model.onnx"));
        Assert.That(run.Component, Does.StartWith("text encoder"));
        Assert.That(steps, Is.Zero, "stopped before the UNet ran");
    }

    [Test]
    public void AVaeReturningNaNIsAnErrorWithTheFloat16Advice()
    {
        using var model = StableDiffusionModel.Load(SdFixture.ModelFolder, new StableDiffusionOptions { VaeFolder = TestData.Path("sdxl-synthetic", "vae-fp16-overflow") });
        var e = Assert.Throws<VaeOverflowException>(() => new StableDiffusionPipeline(model, TestHost.Factory).Generate(Small))!;
        Assert.That(e, Is.InstanceOf<NonFiniteOutputException>());
        Assert.That(e.Message, Does.Contain("VAE decoder").And.Contain("float16").And.Contain("--vae"));
    }

    [Test]
    public async Task OnTheCommandLineANaNImageIsOneLineExit1AndNothingWritten()
    {
        var folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "robust-nan-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var (code, _, error) = await Cli.Run("--model", SdFixture.ModelFolder, "--prompt", "a cat", "--steps", "2", "--width", "64", "--height", "64",
                "--vae", TestData.Path("sdxl-synthetic", "vae-fp16-overflow"), "--out", Path.Combine(folder, "cat.png"));
            Assert.That(code, Is.EqualTo(1), error);
            Cli.AssertOneLineError(error, "VAE decoder", "float16");
            Assert.That(Directory.GetFileSystemEntries(folder), Is.Empty);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    // Each broken file, and what the message must name.
    private static IEnumerable<TestCaseData> BrokenFiles()
    {
        TestCaseData Case(string name, string source, Action<ModelFolderCopy> breakIt, params string[] mentions) =>
            new TestCaseData(source, breakIt, mentions).SetArgDisplayNames(name);
        var sd = SdFixture.ModelFolder;
        var xl = SdxlFixture.BaseFolder;
        var blocks = "[" + string.Join(",", Enumerable.Repeat("32", 34)) + "]";
        yield return Case("VAE of 34 blocks", xl, c => c.SetJson("vae_decoder/config.json", "block_out_channels", blocks), "block_out_channels", "34");
        yield return Case("sample_size 2^29+8", xl, c => c.SetJson("unet/config.json", "sample_size", "536870920"), "sample_size", "536870920", "unet");
        yield return Case("sample_size -2^31", xl, c => c.SetJson("unet/config.json", "sample_size", "-2147483648"), "sample_size", "-2147483648");
        yield return Case("scaling factor 1e300", xl, c => c.SetJson("vae_decoder/config.json", "scaling_factor", "1e300"), "scaling factor", "1E+300", "float32");
        yield return Case("scaling factor 1e-300", xl, c => c.SetJson("vae_decoder/config.json", "scaling_factor", "1e-300"), "scaling factor", "1E-300", "float32");
        yield return Case("text encoder of width 24 for a UNet of 32", sd, c =>
        {
            c.Replace("text_encoder/model.onnx", Path.Combine(xl, "text_encoder", "model.onnx"));
            c.Replace("text_encoder/config.json", Path.Combine(xl, "text_encoder", "config.json"));
        }, "text_encoder", "width 24", "unet", "width 32");
        yield return Case("VAE of 16 latent channels for a UNet of 4", sd, c => c.SetJson("vae_decoder/config.json", "latent_channels", "16"), "vae_decoder", "16 channels", "unet", "latents of 4");
        yield return Case("VAE encoder of 6 channels for a UNet of 4", sd, c => c.Replace("vae_encoder/model.onnx", TestData.Path("sd-synthetic", "vae_encoder_6ch.onnx")),
            "vae_encoder", "returns 6 channels", "unet", "latents of 4", "or 8");
        yield return Case("tokenizer id beyond the encoder's table", sd, c => c.SetJson("tokenizer/vocab.json", "zzzzzz</w>", "60000"), "vocab.json", "60000", "text_encoder", "49408 tokens");
        yield return Case("SDXL tokenizer_2 id beyond the encoder's table", xl, c => c.SetJson("tokenizer_2/vocab.json", "zzzzzz</w>", "50000"), "tokenizer_2", "50000", "text_encoder_2");
        yield return Case("no scheduler folder", sd, c => Directory.Delete(c["scheduler"], recursive: true), "scheduler/scheduler_config.json");
    }

    [TestCaseSource(nameof(BrokenFiles))]
    public void FilesThatDoNotFitAreRefusedAtLoadNamingBoth(string source, Action<ModelFolderCopy> breakIt, string[] mentions)
    {
        using var copy = new ModelFolderCopy(source);
        breakIt(copy);
        var e = Assert.Throws<ModelLoadException>(() => StableDiffusionModel.Load(copy.Path).Dispose())!;
        foreach (var mention in mentions) Assert.That(e.Message, Does.Contain(mention));
    }

    [Test]
    public void ADecoderWhoseDeclaredUpsamplingContradictsTheVaeFactorIsRefused()
    {
        var vae = TestData.Path("sd-synthetic", "vae-fixed-factor4");
        var e = Assert.Throws<ModelLoadException>(() => StableDiffusionModel.Load(SdFixture.ModelFolder, new StableDiffusionOptions { VaeFolder = vae }).Dispose())!;
        Assert.That(e.Message, Does.Contain(Path.Combine(vae, "model.onnx")).And.Contain("4×4 pixels").And.Contain(Path.Combine(vae, "config.json")).And.Contain("factor of 8"));
    }

    [Test]
    public void TokenIdsOutsideTheVocabularyAreRefused()
    {
        using (var model = StableDiffusionModel.Load(SdFixture.ModelFolder, new StableDiffusionOptions { Tokenizer = new FixedTokenizer(-5) }))
        {
            var e = Assert.Throws<ModelInputException>(() => new StableDiffusionPipeline(model, TestHost.Factory).Generate(Small))!;
            Assert.That(e.Message, Does.Contain("-5").And.Contain("text_encoder"));
        }
        // The SDXL encoder's config says vocab_size 49408: that id is one past the end.
        using (var model = StableDiffusionModel.Load(SdxlFixture.BaseFolder, new StableDiffusionOptions { Tokenizer = new FixedTokenizer(49408) }))
        {
            var e = Assert.Throws<ModelInputException>(() => new StableDiffusionPipeline(model, TestHost.Factory).Generate(Small))!;
            Assert.That(e.Message, Does.Contain("49408").And.Contain("0 to 49407"));
        }
    }

    private sealed class FixedTokenizer(int id) : IPromptTokenizer
    {
        public int ModelMaxLength => 77;

        public int[] Encode(string text) => [49406, id, .. Enumerable.Repeat(49407, 75)];
    }
}
