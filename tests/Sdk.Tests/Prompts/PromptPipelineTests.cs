using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusion;
using Diffusion.Sdk.Tests.Support;
using Diffusion.Sdk.Tokenizers;
using StbImageSharp;

namespace Diffusion.Sdk.Tests.Prompts;

/// <summary>
/// The whole pipeline with <see cref="PromptSyntax.A1111"/> against the reference long-prompt pipeline's runs (the
/// initial latents, the latents after every step to 1e-3 + 1e-4·|x|, the image to 1e-3, the PNG to ±1), the
/// conditioning it hands the UNet (shape, row order), the syntax being off by default, and the requests it refuses
/// before any work.
/// </summary>
[TestFixture]
public sealed class PromptPipelineTests
{
    private static StableDiffusionRequest Small(string prompt, string? negative = null, PromptSyntax syntax = PromptSyntax.A1111, int maxWindows = 3) => new()
    {
        Prompt = prompt, NegativePrompt = negative, PromptSyntax = syntax, PromptMaxWindows = maxWindows, Steps = 1, GuidanceScale = 7, Width = 64, Height = 64,
    };

    private static StableDiffusionRequest Request(PromptCase c, StepCallback? onStep = null, int? steps = null)
    {
        var inputs = c.PipelineRun.GetProperty("inputs");
        return new StableDiffusionRequest
        {
            Prompt = c.Prompt,
            NegativePrompt = c.NegativePrompt,
            PromptSyntax = PromptSyntax.A1111,
            PromptMaxWindows = c.MaxWindows,
            Steps = steps ?? inputs.GetProperty("num_inference_steps").GetInt32(),
            GuidanceScale = inputs.GetProperty("guidance_scale").GetDouble(),
            Seed = inputs.GetProperty("seed").GetUInt64(),
            Width = inputs.GetProperty("width").GetInt32(),
            Height = inputs.GetProperty("height").GetInt32(),
            OnStep = onStep,
        };
    }

    [TestCaseSource(typeof(PromptCase), nameof(PromptCase.PipelineCases))]
    public async Task TheWholeRunMatchesStepForStep(int index)
    {
        var c = PromptCase.All[index];
        var run = c.PipelineRun;
        var pipeline = new StableDiffusionPipeline(c.Model, TestHost.Factory);
        var steps = new List<(double T, float[] Latents)>();
        var result = await pipeline.GenerateAsync(Request(c, (step, latents) => steps.Add((step.Timestep, latents.ToArray()))));

        var recorded = run.GetProperty("steps").EnumerateArray().ToList();
        Assert.That(result.Timesteps, Is.EqualTo(run.GetProperty("scheduler").GetProperty("timesteps").EnumerateArray().Select(t => t.GetDouble())), "timesteps");
        Assert.That(result.EncoderHiddenStatesShape, Is.EqualTo(run.GetProperty("encoder_hidden_states_shape").EnumerateArray().Select(d => d.GetInt32())), "the UNet's encoder hidden states");
        Tolerance.AssertClose(result.InitialLatents, Values(run.GetProperty("initial_latents")), "initial latents", abs: 1e-3, rel: 1e-4);
        Assert.That(steps, Has.Count.EqualTo(recorded.Count));
        for (var i = 0; i < recorded.Count; i++)
            Tolerance.AssertClose(steps[i].Latents, Values(recorded[i].GetProperty("latents")), $"latents after step {i} (t = {steps[i].T})", abs: 1e-3, rel: 1e-4);
        Tolerance.AssertClose(result.Latents, Values(run.GetProperty("final_latents")), "final latents", abs: 1e-3, rel: 1e-4);
        var worst = Enumerable.Range(0, recorded.Count).Max(i => steps[i].Latents.Zip(Values(recorded[i].GetProperty("latents")), (a, b) => Math.Abs(a - b)).Max());
        TestContext.Out.WriteLine($"{c.Id}: largest latent difference over the steps {worst:g3}");

        // The image: [64, 64, 3] HWC in the file, NCHW here.
        var shape = result.ImageShape;
        var plane = shape.Height * shape.Width;
        var hwc = new float[shape.ItemLength];
        for (var ch = 0; ch < 3; ch++)
            for (var p = 0; p < plane; p++)
                hwc[p * 3 + ch] = result.Images[ch * plane + p];
        Tolerance.AssertClose(hwc, Values(run.GetProperty("image")), "image", abs: 1e-3, rel: 0);
        var ours = ImageResult.FromMemory(result.Png[0], ColorComponents.RedGreenBlue).Data;
        var theirs = ImageResult.FromMemory(File.ReadAllBytes(Path.Combine(Path.GetDirectoryName(c.File)!, run.GetProperty("image_png").GetString()!)), ColorComponents.RedGreenBlue).Data;
        Assert.That(ours.Zip(theirs, (a, b) => Math.Abs(a - b)).Max(), Is.LessThanOrEqualTo(1), "PNG bytes differ by more than 1");
    }

    [TestCaseSource(typeof(PromptCase), nameof(PromptCase.PipelineCases))]
    public async Task TheUnetGetsTheNegativeRowsFirstThenThePromptRows(int index)
    {
        var c = PromptCase.All[index];
        var pipeline = new StableDiffusionPipeline(c.Model, TestHost.Factory);
        var result = await pipeline.GenerateAsync(Request(c, steps: 1));
        var conditioning = result.Conditioning!;
        Assert.That(conditioning.Rows, Is.EqualTo(2));
        Assert.That(conditioning.HasUnconditionalRows);
        var row = conditioning.HiddenStatesRowLength;
        var encoder = new LongPromptEncoder(c.Tokenizer, c.Model.TextEncoder);
        var windows = encoder.Frame([c.Prompt, c.UnconditionalText ?? ""], c.MaxWindows);
        Assert.That(conditioning.EncoderHiddenStates[..row], Is.EqualTo(encoder.Encode(windows[1])), "row 0: the negative prompt");
        Assert.That(conditioning.EncoderHiddenStates[row..], Is.EqualTo(encoder.Encode(windows[0])), "row 1: the prompt");
    }

    [Test]
    public async Task TheSyntaxIsOffByDefault()
    {
        // Plain: parentheses are text and the embeddings are the standard pipeline's, as before the syntax existed.
        const string prompt = "a (red:1.5) apple";
        var request = new StableDiffusionRequest { Prompt = prompt, Steps = 1, GuidanceScale = 7, Width = 64, Height = 64 };  // no PromptSyntax set
        Assert.That(request.PromptSyntax, Is.EqualTo(PromptSyntax.Plain));
        var result = await SdFixture.Pipeline.GenerateAsync(request);
        var row = result.Conditioning!.HiddenStatesRowLength;
        Assert.That(result.EncoderHiddenStatesShape, Is.EqualTo(new[] { 2, 77, 32 }));
        Assert.That(result.Conditioning.EncoderHiddenStates[..row], Is.EqualTo(SdFixture.Model.EncodePrompt("")));
        Assert.That(result.Conditioning.EncoderHiddenStates[row..], Is.EqualTo(SdFixture.Model.EncodePrompt(prompt)));
    }

    [Test]
    public async Task ABatchSharesOneWindowCount()
    {
        // A short and a long prompt, two images each, no guidance: every row has the long prompt's two windows.
        var longPrompt = string.Join(", ", Enumerable.Repeat("a (tiny:1.1) robot", 25));
        var result = await SdFixture.Pipeline.GenerateAsync(new StableDiffusionRequest
        {
            Prompts = ["a [small] cat", longPrompt], ImagesPerPrompt = 2, PromptSyntax = PromptSyntax.A1111,
            Steps = 1, GuidanceScale = 1, Width = 64, Height = 64,
        });
        Assert.That(result.EncoderHiddenStatesShape, Is.EqualTo(new[] { 4, 154, 32 }));
        var encoder = ((ClipTextConditioner)SdFixture.Model.Conditioner).LongPrompts!.Encoder;
        var windows = encoder.Frame(["a [small] cat", longPrompt], 3);
        var row = result.Conditioning!.HiddenStatesRowLength;
        var hidden = result.Conditioning.EncoderHiddenStates;
        Assert.That(hidden[..row], Is.EqualTo(encoder.Encode(windows[0])));
        Assert.That(hidden[row..(2 * row)], Is.EqualTo(encoder.Encode(windows[0])));
        Assert.That(hidden[(3 * row)..], Is.EqualTo(encoder.Encode(windows[1])));
    }

    [Test]
    public void BadPromptRequestsFailBeforeAnyWork()
    {
        var pipeline = SdFixture.Pipeline;
        // GenerateAsync throws these synchronously, from its preparation, before any model runs.
        var syntax = Assert.Throws<PromptSyntaxException>(() => pipeline.GenerateAsync(Small("a (cat:1.2.3)")))!;
        Assert.That(syntax.Message, Does.Contain("1.2.3"));
        Assert.That(Assert.Throws<PromptSyntaxException>(() => pipeline.GenerateAsync(Small("a cat", negative: "(ugly:.)")))!.Message, Does.Contain("'.'"));
        Assert.That(Assert.Throws<SamplingOptionException>(() => pipeline.GenerateAsync(Small("a cat", maxWindows: 0)))!.Option, Is.EqualTo("PromptMaxWindows"));
        Assert.That(Assert.Throws<SamplingOptionException>(() => pipeline.GenerateAsync(Small("a cat", syntax: (PromptSyntax)7)))!.Option, Is.EqualTo("PromptSyntax"));
        var infinite = "(x:1" + new string('0', 400) + ")";
        Assert.That(Assert.Throws<SamplingOptionException>(() => pipeline.GenerateAsync(Small(infinite)))!.Message, Does.Contain("finite"));
        // Plain reads the same text literally, as the standard pipeline does.
        Assert.DoesNotThrow(() => pipeline.Generate(Small("a (cat:1.2.3)", syntax: PromptSyntax.Plain)));
    }

    [Test]
    public void AUnetWithAFixedSequenceLengthRefusesLongPromptsWithATypedError()
    {
        var folder = Directory.CreateTempSubdirectory("sd-fixed77-").FullName;
        try
        {
            foreach (var part in new[] { "tokenizer", "text_encoder", "vae_decoder", "scheduler" })
                CopyFolder(Path.Combine(SdFixture.ModelFolder, part), Path.Combine(folder, part));
            Directory.CreateDirectory(Path.Combine(folder, "unet"));
            File.Copy(TestData.Path("sd-synthetic", "unet_fixed77.onnx"), Path.Combine(folder, "unet", "model.onnx"));
            using var model = StableDiffusionModel.Load(folder);
            var pipeline = new StableDiffusionPipeline(model, TestHost.Factory);
            var longPrompt = string.Join(", ", Enumerable.Repeat("a (tiny:1.1) robot", 25));
            var e = Assert.Throws<SamplingOptionException>(() => pipeline.GenerateAsync(Small(longPrompt)))!;
            Assert.That(e.Option, Is.EqualTo("PromptMaxWindows"));
            Assert.That(e.Message, Does.Contain("exactly 77 tokens").And.Contain("154"));
            // What fits one window runs, and so does the same long prompt cut to one window.
            Assert.That(pipeline.Generate(Small(longPrompt, maxWindows: 1)).EncoderHiddenStatesShape, Is.EqualTo(new[] { 2, 77, 32 }));
            Assert.That(pipeline.Generate(Small("a (tiny:1.1) robot")).EncoderHiddenStatesShape, Is.EqualTo(new[] { 2, 77, 32 }));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }

    private static double[] Values(System.Text.Json.JsonElement tensor) => tensor.GetProperty("values").EnumerateArray().Select(e => e.GetDouble()).ToArray();
}
