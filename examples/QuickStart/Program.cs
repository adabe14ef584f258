// Quick start: the sampling loop of the SDK with an exact denoiser in place of a network.
// Data x0 ~ N(0.5, 0.2²) has a closed-form noise predictor, so every sampler's output can be checked by eye:
// the printed mean and standard deviation should be close to 0.5 and 0.2.
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Microsoft.Extensions.DependencyInjection;

const double mu = 0.5, s = 0.2;
const int count = 10_000;

var services = new ServiceCollection();
services.AddDiffusionSampling().AddDdpmSampler().AddDdimSampler();
using var provider = services.BuildServiceProvider();
var factory = provider.GetRequiredService<ISamplerFactory>();

foreach (var (name, steps, eta) in new[] { ("ddpm", 1000, 0.0), ("ddim", 50, 0.0), ("ddim", 1000, 1.0) })
{
    var sampler = factory.Create(name, new SchedulerConfig { ClipSample = false, Eta = eta });
    sampler.SetTimesteps(steps);

    var noise = new TorchGaussianNoise(seed: 0);     // the same stream torch.randn gives for seed 0
    var x = new float[count];
    noise.NextGaussian(x);
    var eps = new float[count];
    var next = new float[count];
    foreach (var t in sampler.Timesteps)
    {
        // The exact ε-prediction for Gaussian data: √(1−ᾱ)(x − √ᾱμ)/(ᾱs² + 1 − ᾱ).
        var abar = sampler.Schedule.AlphasCumprod[(int)t];
        for (var i = 0; i < count; i++)
            eps[i] = (float)(Math.Sqrt(1 - abar) * (x[i] - Math.Sqrt(abar) * mu) / (abar * s * s + 1 - abar));
        sampler.Step(new StepInput(eps, t, x, batchSize: count), new StepOutput(next), noise);
        (x, next) = (next, x);
    }

    var mean = x.Average(v => (double)v);
    var std = Math.Sqrt(x.Sum(v => (v - mean) * (v - mean)) / (count - 1));
    Console.WriteLine($"{name,-5} {steps,5} steps, eta {eta:0.0}: mean {mean:F4} (target {mu}), std {std:F4} (target {s})");
}
