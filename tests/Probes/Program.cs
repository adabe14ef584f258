// Each probe prints "ok: …" and exits 0 when the SDK behaved, or "fail: …" and exits 1. A native crash (the
// failure these probes exist to catch) kills the process with a signal, which the calling test reports.
using Diffusion.Probes;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Microsoft.Extensions.DependencyInjection;

if (args.Length is < 2 or > 3)
{
    Console.Error.WriteLine("usage: diffusion-probes dispose-during-generation|dispose-during-call MODEL_FOLDER");
    Console.Error.WriteLine("       diffusion-probes sd-use-after-dispose|sd-component-dispose-during-call SD_FOLDER [LORA_FILE]");
    Console.Error.WriteLine("       diffusion-probes sd-dispose-during-text-encoding|sd-dispose-provider-during-unet|sd-dispose-during-vae-decoding SD_FOLDER [LORA_FILE]");
    Console.Error.WriteLine("       diffusion-probes sd-dispose-refiner-during-its-stage BASE_FOLDER REFINER_FOLDER");
    return 2;
}
var (probe, modelFolder) = (args[0], args[1]);
try
{
    if (probe.StartsWith("sd-", StringComparison.Ordinal))
    {
        // The third argument of the single-model probes: a LoRA adapter merged into the model.
        if (args.Length == 3 && probe != "sd-dispose-refiner-during-its-stage") StableDiffusionProbes.Lora = args[2];
        StableDiffusionProbes.Inspect(modelFolder);
    }
    return probe switch
    {
        "dispose-during-generation" => await DisposeDuringGeneration(modelFolder),
        "dispose-during-call" => DisposeDuringCall(modelFolder),
        "sd-use-after-dispose" => await StableDiffusionProbes.UseAfterDispose(modelFolder),
        "sd-component-dispose-during-call" => StableDiffusionProbes.ComponentDisposeDuringCall(modelFolder),
        "sd-dispose-during-text-encoding" => await StableDiffusionProbes.DisposeDuringTextEncoding(modelFolder),
        "sd-dispose-provider-during-unet" => await StableDiffusionProbes.DisposeProviderDuringUnet(modelFolder),
        "sd-dispose-during-vae-decoding" => await StableDiffusionProbes.DisposeDuringVaeDecoding(modelFolder),
        "sd-dispose-refiner-during-its-stage" when args.Length == 3 => await StableDiffusionProbes.DisposeRefinerDuringItsStage(modelFolder, args[2]),
        _ => Verdict.Fail($"unknown probe '{probe}' (or wrong arguments)"),
    };
}
catch (Exception e)
{
    return Verdict.Fail($"{e.GetType().Name}: {e.Message}");
}

// The model is disposed while a generation is between (or inside) its model calls: the run must end with
// ObjectDisposedException, and nothing may crash in native code.
static async Task<int> DisposeDuringGeneration(string folder)
{
    var services = new ServiceCollection();
    services.AddDiffusionSampling().AddDdimSampler();
    await using var provider = services.BuildServiceProvider();
    var model = OnnxDiffusionModel.Load(folder);
    var pipeline = new DiffusionPipeline(model, provider.GetRequiredService<ISamplerFactory>());
    var steps = 0;
    using var stepped = new ManualResetEventSlim();
    var run = pipeline.GenerateAsync(new GenerationRequest
    {
        Sampling = new SamplingOptions { Sampler = "ddim", Steps = 50 }, BatchSize = 128, ClassLabel = 3,
        OnStep = (_, _) => { if (Interlocked.Increment(ref steps) == 1) stepped.Set(); },
    });
    if (!stepped.Wait(TimeSpan.FromMinutes(2))) return Verdict.Fail("no step finished within 2 minutes");
    model.Dispose();
    try
    {
        await run;
        return Verdict.Fail("the run finished although its model was disposed");
    }
    catch (ObjectDisposedException)
    {
        return steps < 50 ? Verdict.Ok($"ObjectDisposedException after {steps} of 50 steps") : Verdict.Fail("every step ran");
    }
}

// The model is disposed in the middle of one long native call.
static int DisposeDuringCall(string folder)
{
    var model = OnnxDiffusionModel.Load(folder);
    var denoiser = model.CreateDenoiser();
    var info = model.Info;
    var shape = new Diffusion.Sdk.Abstractions.TensorShape(1024, info.Channels, info.Height!.Value, info.Width!.Value);
    var sample = new float[shape.Length];
    new Diffusion.Sdk.Sampling.TorchGaussianNoise(1).NextGaussian(sample);
    var labels = Enumerable.Repeat(1L, shape.Batch).ToArray();
    var output = new float[sample.Length];
    using var started = new ManualResetEventSlim();
    var call = Task.Run(() =>
    {
        started.Set();
        denoiser.Predict(new Diffusion.Sdk.Abstractions.DenoiserInput(sample, shape, 500, labels), output);
    });
    started.Wait();
    Thread.Sleep(100);
    model.Dispose();
    try
    {
        call.GetAwaiter().GetResult();
        return Verdict.Fail("the call finished although its model was disposed");
    }
    catch (ObjectDisposedException)
    {
        denoiser.Dispose();
        return Verdict.Ok("ObjectDisposedException from the running call");
    }
}
