// Embedding generation in an application through dependency injection: register the samplers you want, the model
// and the pipeline once; resolve the (thread-safe) pipeline wherever images are needed.
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Pipeline;
using Microsoft.Extensions.DependencyInjection;

var services = new ServiceCollection();
services.AddDiffusionSampling()
    .AddDdimSampler()
    .AddEulerSampler()
    .AddOnnxModel(Path.Combine(AppContext.BaseDirectory, "models", "digits"))
    .AddDiffusionPipeline();
await using var provider = services.BuildServiceProvider();

var pipeline = provider.GetRequiredService<DiffusionPipeline>();
var result = await pipeline.GenerateAsync(new GenerationRequest
{
    Sampling = new SamplingOptions { Sampler = "euler", Steps = 20, GuidanceScale = 3 },
    BatchSize = 10,
    ClassLabels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    Seed = 42,
});
ImageEncoder.WriteAtomically("digits-euler.png", ImageEncoder.EncodeGridPng(result.Latents, result.Shape, columns: 10));
Console.WriteLine($"wrote digits-euler.png ({result.ModelEvaluations} model calls, {result.Elapsed.TotalSeconds:0.0} s)");
