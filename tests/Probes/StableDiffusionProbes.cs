using Diffusion.Sdk;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Lora;
using Diffusion.Sdk.StableDiffusion;
using Microsoft.Extensions.DependencyInjection;

namespace Diffusion.Probes;

/// <summary>
/// The lifetime of a Stable Diffusion model (SD 1.x/2.x, SDXL, a refiner) and of each of its ONNX components: use
/// after dispose, and dispose while a text encoder, the UNet or the VAE runs. Each must end with
/// <see cref="ObjectDisposedException"/>; a released session used by native code would kill the process instead.
/// </summary>
internal static class StableDiffusionProbes
{
    private static readonly ISamplerFactory Samplers = new ServiceCollection().AddBuiltInSamplers().Services
        .BuildServiceProvider().GetRequiredService<ISamplerFactory>();

    // Every use of a disposed model, its pipeline and each component held from before the dispose.
    public static async Task<int> UseAfterDispose(string folder)
    {
        var model = Load(folder);
        var pipeline = new StableDiffusionPipeline(model, Samplers);
        var calls = ComponentCalls(model);
        model.Dispose();
        var uses = new List<(string Name, Func<Task> Use)>
        {
            ("EncodePrompt", () => Task.FromResult(model.EncodePrompt("a cat"))),
            ("Generate", () => Task.FromResult(pipeline.Generate(Request(folder)))),
            ("GenerateAsync", async () => await pipeline.GenerateAsync(Request(folder))),
            ("TextEncoder", () => Task.FromResult(model.TextEncoder)),
            ("Unet", () => Task.FromResult(model.Unet)),
            ("VaeDecoder", () => Task.FromResult(model.VaeDecoder)),
        };
        uses.AddRange(calls.Select(c => (c.Name, (Func<Task>)(() => Task.Run(c.Call)))));
        foreach (var (name, use) in uses)
        {
            try
            {
                await use();
                return Verdict.Fail($"{name} succeeded on a disposed model");
            }
            catch (ObjectDisposedException)
            {
            }
        }
        return Verdict.Ok($"ObjectDisposedException from each of {string.Join(", ", uses.Select(u => u.Name))}");
    }

    // Each component in turn, on a fresh model: calls run back to back on a worker, the model is disposed after the
    // third has returned, so that the dispose lands during (or between) the calls that follow.
    public static int ComponentDisposeDuringCall(string folder)
    {
        var names = ComponentCalls(Load(folder)).Select(c => c.Name).ToList();
        var stopped = new List<string>();
        foreach (var name in names)
        {
            var model = Load(folder);
            var call = ComponentCalls(model).Single(c => c.Name == name).Call;
            var completed = 0;
            using var third = new ManualResetEventSlim();
            var worker = Task.Run(() =>
            {
                while (true)
                {
                    call();
                    if (Interlocked.Increment(ref completed) == 3) third.Set();
                }
            });
            if (!third.Wait(TimeSpan.FromMinutes(2))) return Verdict.Fail($"{name}: three calls did not finish within 2 minutes");
            model.Dispose();
            try
            {
                worker.GetAwaiter().GetResult();
            }
            catch (ObjectDisposedException)
            {
                stopped.Add($"{name} after {Volatile.Read(ref completed)} calls");
                continue;
            }
            return Verdict.Fail($"{name}: the calls ended without ObjectDisposedException");
        }
        return Verdict.Ok($"ObjectDisposedException from {string.Join(", ", stopped)}");
    }

    // Many prompts: the model is disposed once the tokenizer has served 20 of them, while the text encoder works
    // through the rest.
    public static async Task<int> DisposeDuringTextEncoding(string folder)
    {
        var inner = ClipPromptTokenizer.FromFolder(Path.Combine(folder, Directory.Exists(Path.Combine(folder, "tokenizer")) ? "tokenizer" : "tokenizer_2"));
        var tokenizer = new SignallingTokenizer(inner, after: 20);
        var model = Load(folder, tokenizer);
        var pipeline = new StableDiffusionPipeline(model, Samplers);
        var prompts = Enumerable.Range(0, 2000).Select(i => $"a photo of cat number {i}").ToArray();
        var run = pipeline.GenerateAsync(Request(folder) with { Prompt = "", Prompts = prompts, GuidanceScale = 1 });
        if (!tokenizer.Reached.Wait(TimeSpan.FromMinutes(2))) return Verdict.Fail("the text encoding did not start within 2 minutes");
        model.Dispose();
        return await Expect(run, $"after {tokenizer.Calls} prompts were tokenized");
    }

    // The container that holds the model is disposed after the first step, while the UNet runs the next ones.
    public static async Task<int> DisposeProviderDuringUnet(string folder)
    {
        var services = new ServiceCollection();
        services.AddBuiltInSamplers().AddStableDiffusion(folder, o => o.Loras = Lora is null ? [] : [new LoraAdapter(Lora, 1.0)]);
        var provider = services.BuildServiceProvider();
        var pipeline = provider.GetRequiredService<StableDiffusionPipeline>();
        using var stepped = new ManualResetEventSlim();
        var steps = 0;
        var run = pipeline.GenerateAsync(Request(folder) with
        {
            Steps = 40, ImagesPerPrompt = 4, OnStep = (_, _) => { if (Interlocked.Increment(ref steps) == 1) stepped.Set(); },
        });
        if (!stepped.Wait(TimeSpan.FromMinutes(2))) return Verdict.Fail("no step finished within 2 minutes");
        await provider.DisposeAsync();
        return await Expect(run, $"after {Volatile.Read(ref steps)} of 40 steps");
    }

    // The model is disposed as the last step ends, while the VAE decodes a batch of 16 images one by one.
    public static async Task<int> DisposeDuringVaeDecoding(string folder)
    {
        var model = Load(folder);
        var pipeline = new StableDiffusionPipeline(model, Samplers);
        using var last = new ManualResetEventSlim();
        var run = pipeline.GenerateAsync(Request(folder) with
        {
            Steps = 2, ImagesPerPrompt = 16, GuidanceScale = 1, OnStep = (step, _) => { if (step.Index == 1) last.Set(); },
        });
        if (!last.Wait(TimeSpan.FromMinutes(2))) return Verdict.Fail("sampling did not end within 2 minutes");
        model.Dispose();
        return await Expect(run, "during decoding");
    }

    // Base → refiner: the refiner is disposed once its stage has begun.
    public static async Task<int> DisposeRefinerDuringItsStage(string baseFolder, string refinerFolder)
    {
        using var model = StableDiffusionModel.Load(baseFolder);
        var refiner = StableDiffusionModel.Load(refinerFolder);
        var pipeline = new StableDiffusionPipeline(model, Samplers) { Refiner = refiner };
        using var inRefiner = new ManualResetEventSlim();
        var steps = 0;
        // 40 steps at 0.25: 10 for the base, 30 for the refiner; the refiner is disposed after its first.
        var run = pipeline.GenerateAsync(Request(baseFolder) with
        {
            Steps = 40, HighNoiseFraction = 0.25, ImagesPerPrompt = 4,
            OnStep = (_, _) => { if (Interlocked.Increment(ref steps) == 12) inRefiner.Set(); },
        });
        if (!inRefiner.Wait(TimeSpan.FromMinutes(2))) return Verdict.Fail("the refiner's stage did not begin within 2 minutes");
        refiner.Dispose();
        return await Expect(run, $"after {Volatile.Read(ref steps)} of 40 steps");
    }

    private static async Task<int> Expect(Task<StableDiffusionResult> run, string when)
    {
        try
        {
            var result = await run;
            return Verdict.Fail($"the run returned {result.Images.Length} image values although its model was disposed ({when})");
        }
        catch (ObjectDisposedException)
        {
            return Verdict.Ok($"ObjectDisposedException {when}");
        }
    }

    /// <summary>A LoRA adapter merged into every model the probes load (the third argument), or null.</summary>
    public static string? Lora { get; set; }

    private static StableDiffusionModel Load(string folder, IPromptTokenizer? tokenizer = null) => StableDiffusionModel.Load(folder, new StableDiffusionOptions
    {
        Tokenizer = tokenizer,
        Loras = Lora is null ? [] : [new LoraAdapter(Lora, 1.0)],
    });

    // A prompt; for an inpainting UNet (it refuses to run without them) also a start picture and a mask of its left
    // half, at strength 1 so that every step runs (the probes count them).
    private static StableDiffusionRequest Request(string folder)
    {
        var request = new StableDiffusionRequest { Prompt = "a cat", Steps = 2, GuidanceScale = 5, Seed = 1, Width = 64, Height = 64 };
        if (!InpaintingFolders.Contains(folder)) return request;
        var picture = new float[3 * 64 * 64];
        for (var i = 0; i < picture.Length; i++) picture[i] = (i % 64) / 32f - 1;
        var mask = new float[3 * 64 * 64];
        for (var i = 0; i < mask.Length; i++) mask[i] = i % 64 < 32 ? 1 : -1;
        var shape = new TensorShape(1, 3, 64, 64);
        return request with { InitImage = StableDiffusionImages.EncodePng(picture, shape, 0), Mask = StableDiffusionImages.EncodePng(mask, shape, 0), Strength = 1 };
    }

    // Folders whose UNet reads the inpainting channels (found once, by loading the model).
    private static readonly HashSet<string> InpaintingFolders = [];

    /// <summary>Notes whether <paramref name="folder"/>'s UNet is an inpainting one, so that its requests carry a picture and a mask.</summary>
    public static void Inspect(string folder)
    {
        using var model = StableDiffusionModel.Load(folder);
        if (model.Unet.Info.SampleInputChannels == 2 * model.LatentChannels + 1) InpaintingFolders.Add(folder);
    }

    // One call of each ONNX component except the UNet (which the generation probes reach): every text encoder, the
    // VAE decoder and the VAE encoder where the export has one.
    private static List<(string Name, Action Call)> ComponentCalls(StableDiffusionModel model)
    {
        var calls = new List<(string, Action)>();
        if (model.Xl is { } xl)
        {
            foreach (var pair in xl.TextEncoders.Pairs)
            {
                var ids = pair.Tokenizer.Encode("a photo of a cat");
                calls.Add((pair.Name, () => pair.Encoder.EncodeHiddenState(ids, 2)));
            }
        }
        else
        {
            var encoder = model.TextEncoder;
            var ids = model.Tokenizer.Encode("a photo of a cat");
            calls.Add(("text_encoder", () => encoder.Encode(ids)));
        }
        var decoder = model.VaeDecoder;
        var latents = new TensorShape(4, model.LatentChannels, 32, 32);
        calls.Add(("vae_decoder", () => decoder.Decode(new float[latents.Length], latents)));
        if (model.VaeEncoder is { } vaeEncoder)
        {
            var pixels = new TensorShape(2, 3, 256, 256);
            calls.Add(("vae_encoder", () => vaeEncoder.Encode(new float[pixels.Length], pixels)));
        }
        return calls;
    }

    // Counts Encode calls and signals once a count is reached.
    private sealed class SignallingTokenizer(IPromptTokenizer inner, int after) : IPromptTokenizer
    {
        private int _calls;

        public ManualResetEventSlim Reached { get; } = new();

        public int Calls => Volatile.Read(ref _calls);

        public int ModelMaxLength => inner.ModelMaxLength;

        public int[] Encode(string text)
        {
            if (Interlocked.Increment(ref _calls) == after) Reached.Set();
            return inner.Encode(text);
        }
    }
}
