using System.Diagnostics;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Diffusion.Sdk.StableDiffusion;
using Microsoft.ML.OnnxRuntime;
using static Diffusion.Benchmarks.Infrastructure.SideBySide;

namespace Diffusion.Benchmarks.Overhead;

/// <summary>The text-to-image suite's numbers.</summary>
/// <param name="Case">The reference case that was run.</param>
/// <param name="UnetCalls">UNet calls per image (one per step: guidance batches uncond and cond).</param>
/// <param name="BareMs">Median time of the bare calls: 2 text-encoder runs, the UNet calls, 1 VAE-decoder run.</param>
/// <param name="PipelineMs">Median time of one <c>StableDiffusionPipeline.Generate</c>.</param>
/// <param name="Ratio">Median over rounds of pipeline ÷ bare, measured in the same round.</param>
/// <param name="RatioLow">Lower quartile of the per-round ratios.</param>
/// <param name="RatioHigh">Upper quartile of the per-round ratios.</param>
/// <param name="Rounds">Rounds measured.</param>
/// <param name="IntraOpThreads">ONNX Runtime threads per operator.</param>
/// <param name="Seconds">Duration of the suite.</param>
public sealed record TextToImageOverheadResult(string Case, int UnetCalls, double BareMs, double PipelineMs, double Ratio, double RatioLow, double RatioHigh,
    int Rounds, int IntraOpThreads, double Seconds);

/// <summary>
/// What <see cref="StableDiffusionPipeline"/> adds around the networks on the tiny SD fixture (case A1: PNDM, 6 steps,
/// 7 UNet calls of batch 2 under guidance 7.5, 64×64): tokenizing, the text encoder twice, seeded noise, the sampler,
/// guidance, the NaN checks, the VAE decoder, post-processing and PNG encoding, against the same network calls made
/// bare on the same sessions with the same inputs (tensors created once, the UNet through IOBinding as the SDK runs it).
/// The two alternate round after round; the ratio is the median of the per-round ratios.
/// </summary>
public static class TextToImageOverhead
{
    public static TextToImageOverheadResult Run(ISamplerFactory factory, int rounds, Action<string> log)
    {
        var clock = Stopwatch.StartNew();
        var threads = Environment.ProcessorCount;
        var folder = Repository.Path("tests", "Sdk.Tests", "TestData", "sd-tiny-legacy", "model");
        using var model = StableDiffusionModel.Load(folder, new StableDiffusionOptions { Onnx = new OnnxModelOptions { IntraOpThreads = threads } });
        var pipeline = new StableDiffusionPipeline(model, factory);
        var request = new StableDiffusionRequest
        {
            Prompt = "a photograph of an astronaut riding a horse", Steps = 6, GuidanceScale = 7.5, Seed = 42, Width = 64, Height = 64,
        };

        // The bare side gets the very inputs the pipeline gives the networks: x_T, then each step's latents (PNDM's input
        // scaling is the identity), the two prompts' ids and the final latents over the scaling factor.
        var stepInputs = new List<float[]>();
        var first = pipeline.Generate(new StableDiffusionRequest
        {
            Prompt = request.Prompt, Steps = request.Steps, GuidanceScale = request.GuidanceScale, Seed = request.Seed, Width = 64, Height = 64,
            OnStep = (step, latents) => { if (step.Index < step.TotalSteps - 1) stepInputs.Add(latents.ToArray()); },
        });
        stepInputs.Insert(0, first.InitialLatents);
        using var bare = new BareStableDiffusion(model, request.Prompt, first.Timesteps.ToArray(), stepInputs, first.Latents);

        bare.Run();
        pipeline.Generate(request);
        // Where the pipeline's own time goes, for the log: the pieces the bare side does not have.
        log($"text-to-image: tokenizer {Time(() => { for (var i = 0; i < 20; i++) model.Tokenizer.Encode(request.Prompt); }) / 20:F3} ms per prompt, " +
            $"PNG {Time(() => { for (var i = 0; i < 20; i++) StableDiffusionImages.EncodePng(first.Images, first.ImageShape, 0); }) / 20:F3} ms, " +
            $"text encoder {Time(() => model.EncodePrompt(request.Prompt)):F2} ms, VAE {Time(() => model.VaeDecoder.Decode(first.Latents, first.LatentShape)):F2} ms, " +
            $"bare {Time(bare.Run):F2} ms, pipeline {Time(() => pipeline.Generate(request)):F2} ms");
        var (bareTimes, pipelineTimes) = Alternate(rounds, bare.Run, () => pipeline.Generate(request));
        var ratios = pipelineTimes.Zip(bareTimes, (p, b) => p / b).ToList();
        var result = new TextToImageOverheadResult("A1-txt2img-pndm", first.UnetEvaluations, Quantile(bareTimes, 0.5), Quantile(pipelineTimes, 0.5),
            Quantile(ratios, 0.5), Quantile(ratios, 0.25), Quantile(ratios, 0.75), rounds, threads, Math.Round(clock.Elapsed.TotalSeconds, 1));
        log($"text-to-image: bare {result.BareMs:F2} ms, pipeline {result.PipelineMs:F2} ms; pipeline ÷ bare {result.Ratio:F4} ({result.RatioLow:F4}–{result.RatioHigh:F4}), {rounds} rounds");
        return result;
    }


    /// <summary>The network calls of one generation, made directly on the model's own sessions.</summary>
    private sealed class BareStableDiffusion : IDisposable
    {
        private readonly InferenceSession _text, _unet, _vae;
        private readonly double[] _timesteps;
        private readonly List<float[]> _stepInputs;
        private readonly float[] _sample, _timestep;
        private readonly OrtValue _promptIds, _negativeIds, _latents, _unetOutput;
        private readonly OrtValue[] _unetInputs;
        private readonly OrtIoBinding _binding;
        private readonly RunOptions _runOptions = new();

        public BareStableDiffusion(StableDiffusionModel model, string prompt, double[] timesteps, List<float[]> stepInputs, float[] finalLatents)
        {
            _text = model.TextEncoder.Component.Session;
            _unet = model.Unet.Session;
            _vae = model.VaeDecoder.Component.Session;
            _timesteps = timesteps;
            _stepInputs = stepInputs;
            _promptIds = OrtValue.CreateTensorValueFromMemory(model.Tokenizer.Encode(prompt), [1, 77]);
            _negativeIds = OrtValue.CreateTensorValueFromMemory(model.Tokenizer.Encode(""), [1, 77]);
            var hidden = model.EncodePrompt(prompt).Concat(model.EncodePrompt("")).ToArray();
            _sample = new float[2 * 256];
            _timestep = new float[2];
            _unetInputs =
            [
                OrtValue.CreateTensorValueFromMemory(_sample, [2, 4, 8, 8]),
                OrtValue.CreateTensorValueFromMemory(_timestep, [2]),
                OrtValue.CreateTensorValueFromMemory(hidden, [2, 77, 32]),
            ];
            _unetOutput = OrtValue.CreateTensorValueFromMemory(new float[_sample.Length], [2, 4, 8, 8]);
            _binding = _unet.CreateIoBinding();
            _binding.BindInput("sample", _unetInputs[0]);
            _binding.BindInput("timestep", _unetInputs[1]);
            _binding.BindInput("encoder_hidden_states", _unetInputs[2]);
            _binding.BindOutput("out_sample", _unetOutput);
            _latents = OrtValue.CreateTensorValueFromMemory(finalLatents.Select(v => v / (float)model.ScalingFactor).ToArray(), [1, 4, 8, 8]);
        }

        public void Run()
        {
            using (_text.Run(_runOptions, ["input_ids"], [_promptIds], ["last_hidden_state"])) { }
            using (_text.Run(_runOptions, ["input_ids"], [_negativeIds], ["last_hidden_state"])) { }
            for (var k = 0; k < _timesteps.Length; k++)
            {
                _stepInputs[k].CopyTo(_sample, 0);
                _stepInputs[k].CopyTo(_sample, 256);
                _timestep.AsSpan().Fill((float)_timesteps[k]);
                _unet.RunWithBinding(_runOptions, _binding);
            }
            using (_vae.Run(_runOptions, ["latent_sample"], [_latents], ["sample"])) { }
        }

        public void Dispose()
        {
            _binding.Dispose();
            foreach (var v in _unetInputs) v.Dispose();
            _unetOutput.Dispose();
            _promptIds.Dispose();
            _negativeIds.Dispose();
            _latents.Dispose();
            _runOptions.Dispose();
        }
    }
}
