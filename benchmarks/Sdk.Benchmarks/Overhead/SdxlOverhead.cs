using System.Diagnostics;
using Diffusion.Benchmarks.Infrastructure;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.StableDiffusion;
using Microsoft.ML.OnnxRuntime;
using static Diffusion.Benchmarks.Infrastructure.SideBySide;

namespace Diffusion.Benchmarks.Overhead;

/// <summary>The sdxl suite's numbers.</summary>
/// <param name="Case">The reference case that was run.</param>
/// <param name="UnetCalls">UNet calls per image (one per step: guidance batches uncond and cond).</param>
/// <param name="BareMs">Median time of the bare calls: both text encoders for prompt and negative, the UNet calls, 1 VAE-decoder run.</param>
/// <param name="PipelineMs">Median time of one <c>StableDiffusionPipeline.Generate</c>.</param>
/// <param name="Ratio">Median over rounds of pipeline ÷ bare, measured in the same round.</param>
/// <param name="RatioLow">Lower quartile of the per-round ratios.</param>
/// <param name="RatioHigh">Upper quartile of the per-round ratios.</param>
/// <param name="Rounds">Rounds measured.</param>
/// <param name="IntraOpThreads">ONNX Runtime threads per operator.</param>
/// <param name="ComponentBytes">Sum of the .onnx files the generation loads (both text encoders, UNet, VAE decoder and encoder).</param>
/// <param name="PeakWorkingSetBytes">The process's peak working set after the rounds (<c>Process.PeakWorkingSet64</c>).</param>
/// <param name="WorkingSetBytes">The process's working set after a generation (<c>Environment.WorkingSet</c>).</param>
/// <param name="ManagedBytes">Managed heap after a generation (<c>GC.GetTotalMemory(false)</c>).</param>
/// <param name="Seconds">Duration of the suite.</param>
public sealed record SdxlOverheadResult(string Case, int UnetCalls, double BareMs, double PipelineMs, double Ratio, double RatioLow, double RatioHigh,
    int Rounds, int IntraOpThreads, long ComponentBytes, long PeakWorkingSetBytes, long WorkingSetBytes, long ManagedBytes, double Seconds);

/// <summary>
/// What <see cref="StableDiffusionPipeline"/> adds around the networks of an SDXL export, on the tiny SDXL fixture
/// (case X1: Euler 5 steps, guidance 5 with a negative prompt, 64×64): tokenizing for both encoders, the two text
/// encoders on prompt and negative, the micro-conditioning, seeded noise, the sampler, guidance, the NaN checks, the
/// VAE decoder and post-processing, against the same network calls made bare on the same sessions with the same inputs
/// (tensors created once; the UNet with <c>text_embeds</c> and <c>time_ids</c> through IOBinding as the SDK runs it).
/// The two alternate round after round; the ratio is the median of the per-round ratios. Modelled on
/// <see cref="TextToImageOverhead"/> (SD 1.x).
/// </summary>
public static class SdxlOverhead
{
    public static SdxlOverheadResult Run(ISamplerFactory factory, int rounds, Action<string> log)
    {
        var clock = Stopwatch.StartNew();
        var threads = Environment.ProcessorCount;
        var folder = Repository.Path("tests", "Sdk.Tests", "TestData", "sdxl-tiny-optimum", "model");
        using var model = StableDiffusionModel.Load(folder, new StableDiffusionOptions { Onnx = new OnnxModelOptions { IntraOpThreads = threads } });
        var pipeline = new StableDiffusionPipeline(model, factory);
        // Case X1-txt2img-euler-negative of the fixture (its shipped scheduler is Euler).
        var request = new StableDiffusionRequest
        {
            Prompt = "a photograph of an astronaut riding a horse", NegativePrompt = "blurry, low quality", Steps = 5, GuidanceScale = 5, Seed = 42,
            Width = 64, Height = 64,
        };

        // The bare side gets the very inputs the pipeline gives the networks: each step's latents scaled as Euler's
        // scale_model_input does (÷ √(σ² + 1)), the conditioning the pipeline built, and the final latents over the
        // scaling factor.
        var stepLatents = new List<float[]>();
        var first = pipeline.Generate(new StableDiffusionRequest
        {
            Prompt = request.Prompt, NegativePrompt = request.NegativePrompt, Steps = request.Steps, GuidanceScale = request.GuidanceScale, Seed = request.Seed,
            Width = request.Width, Height = request.Height,
            OnStep = (step, latents) => { if (step.Index < step.TotalSteps - 1) stepLatents.Add(latents.ToArray()); },
        });
        stepLatents.Insert(0, first.InitialLatents);
        var alphasCumprod = Float32Schedule.AlphasCumprod(model.SchedulerConfig!);
        var timesteps = first.Timesteps.ToArray();
        var unetInputs = stepLatents.Select((latents, k) =>
        {
            var sigma = Sigma(alphasCumprod, timesteps[k]);
            return latents.Select(v => (float)(v / Math.Sqrt(sigma * sigma + 1))).ToArray();
        }).ToList();
        using var bare = new BareSdxl(model, request.Prompt, request.NegativePrompt, timesteps, unetInputs, first);

        bare.Run();
        pipeline.Generate(request);
        // Where the time goes, for the log: each stage through the SDK against the same calls bare (one run each, so rough).
        var decoderInput = first.Latents.Select(v => v / (float)model.ScalingFactor).ToArray();
        log($"sdxl: text encoders {Time(() => { model.Xl!.TextEncoders.Encode(request.Prompt, null, 2); model.Xl.TextEncoders.Encode(request.NegativePrompt, null, 2); }):F2} ms " +
            $"(bare {Time(bare.RunEncoders):F2} ms), UNet calls bare {Time(bare.RunUnet):F2} ms, " +
            $"VAE {Time(() => model.VaeDecoder.Decode(decoderInput, first.LatentShape)):F2} ms (bare {Time(bare.RunVae):F2} ms), " +
            $"bare {Time(bare.Run):F2} ms, pipeline {Time(() => pipeline.Generate(request)):F2} ms");
        var (bareTimes, pipelineTimes) = Alternate(rounds, bare.Run, () => pipeline.Generate(request));

        // Memory after a generation, against what the components weigh on disk: the sessions hold their weights, so
        // the working set cannot be much below their sum; what is above it is the runtime's and the SDK's own.
        pipeline.Generate(request);
        var managed = GC.GetTotalMemory(false);
        var workingSet = Environment.WorkingSet;
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        var peak = process.PeakWorkingSet64;
        var componentBytes = Directory.EnumerateFiles(folder, "*.onnx*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

        var ratios = pipelineTimes.Zip(bareTimes, (p, b) => p / b).ToList();
        var result = new SdxlOverheadResult("X1-txt2img-euler-negative", first.UnetEvaluations, Quantile(bareTimes, 0.5), Quantile(pipelineTimes, 0.5),
            Quantile(ratios, 0.5), Quantile(ratios, 0.25), Quantile(ratios, 0.75), rounds, threads, componentBytes, peak, workingSet, managed,
            Math.Round(clock.Elapsed.TotalSeconds, 1));
        log($"sdxl: bare {result.BareMs:F2} ms, pipeline {result.PipelineMs:F2} ms; pipeline ÷ bare {result.Ratio:F4} ({result.RatioLow:F4}–{result.RatioHigh:F4}), {rounds} rounds");
        log($"sdxl: components {Mib(componentBytes)} on disk; after a generation: managed {Mib(managed)}, working set {Mib(workingSet)}, peak working set {Mib(peak)}");
        return result;
    }

    private static string Mib(long bytes) => $"{bytes / 1048576.0:F1} MiB";

    // σ(t) = √((1 − ᾱ) / ᾱ), ᾱ interpolated linearly between integer timesteps (Euler's interpolation_type "linear").
    private static double Sigma(double[] alphasCumprod, double t)
    {
        var low = (int)Math.Floor(t);
        var high = Math.Min(low + 1, alphasCumprod.Length - 1);
        double SigmaAt(int i) => Math.Sqrt((1 - alphasCumprod[i]) / alphasCumprod[i]);
        return SigmaAt(low) + (t - low) * (SigmaAt(high) - SigmaAt(low));
    }


    /// <summary>The network calls of one SDXL generation, made directly on the model's own sessions.</summary>
    private sealed class BareSdxl : IDisposable
    {
        private readonly (InferenceSession Session, string[] Outputs, OrtValue Prompt, OrtValue Negative)[] _encoders;
        private readonly string _idsName;
        private readonly InferenceSession _unet, _vae;
        private readonly double[] _timesteps;
        private readonly List<float[]> _stepInputs;
        private readonly float[] _sample, _timestep;
        private readonly OrtValue _latents, _unetOutput;
        private readonly OrtValue[] _unetInputs;
        private readonly OrtIoBinding _binding;
        private readonly RunOptions _runOptions = new();

        public BareSdxl(StableDiffusionModel model, string prompt, string negative, double[] timesteps, List<float[]> stepInputs, StableDiffusionResult first)
        {
            var xl = model.Xl!;
            _idsName = "input_ids";
            // Each encoder as the SDK runs it: the ids of both texts, asking for hidden_states[-2] and the pooled output where there is one.
            _encoders = xl.TextEncoders.Pairs.Select(pair =>
            {
                var component = pair.Encoder.Component;
                string[] outputs = pair.Encoder.PooledOutputName is { } pooled ? [pair.Encoder.HiddenStateOutput(2), pooled] : [pair.Encoder.HiddenStateOutput(2)];
                var tokens = pair.Tokenizer.ModelMaxLength;
                return (component.Session, outputs,
                    component.IntegerInput(_idsName, pair.Tokenizer.Encode(prompt), [1, tokens]),
                    component.IntegerInput(_idsName, pair.Tokenizer.Encode(negative), [1, tokens]));
            }).ToArray();
            _unet = model.Unet.Session;
            _vae = model.VaeDecoder.Component.Session;
            _timesteps = timesteps;
            _stepInputs = stepInputs;
            var conditioning = first.Conditioning!;
            var rows = conditioning.Rows;
            var latentLength = stepInputs[0].Length;
            var shape = first.LatentShape;
            long[] latentShape = [shape.Batch, shape.Channels, shape.Height, shape.Width];
            _sample = new float[rows * latentLength];
            _timestep = new float[1];
            var textEmbeds = conditioning.Find(xl.TextEmbedsInput)!;
            var timeIds = conditioning.Find(xl.TimeIdsInput)!;
            long[] sampleShape = [rows, .. latentShape[1..]];
            _unetInputs =
            [
                OrtValue.CreateTensorValueFromMemory(_sample, sampleShape),
                OrtValue.CreateTensorValueFromMemory(_timestep, []),
                OrtValue.CreateTensorValueFromMemory(conditioning.EncoderHiddenStates, [rows, xl.TextEncoders.Tokens, conditioning.HiddenStatesRowLength / xl.TextEncoders.Tokens]),
                OrtValue.CreateTensorValueFromMemory(textEmbeds.Values, [rows, textEmbeds.RowLength]),
                OrtValue.CreateTensorValueFromMemory(timeIds.Values, [rows, timeIds.RowLength]),
            ];
            _unetOutput = OrtValue.CreateTensorValueFromMemory(new float[_sample.Length], sampleShape);
            _binding = _unet.CreateIoBinding();
            _binding.BindInput("sample", _unetInputs[0]);
            _binding.BindInput("timestep", _unetInputs[1]);
            _binding.BindInput("encoder_hidden_states", _unetInputs[2]);
            _binding.BindInput(xl.TextEmbedsInput, _unetInputs[3]);
            _binding.BindInput(xl.TimeIdsInput, _unetInputs[4]);
            _binding.BindOutput("out_sample", _unetOutput);
            _latents = OrtValue.CreateTensorValueFromMemory(first.Latents.Select(v => v / (float)model.ScalingFactor).ToArray(), latentShape);
        }

        public void Run()
        {
            RunEncoders();
            RunUnet();
            RunVae();
        }

        public void RunEncoders()
        {
            foreach (var (session, outputs, prompt, negative) in _encoders)
            {
                using (session.Run(_runOptions, [_idsName], [prompt], outputs)) { }
                using (session.Run(_runOptions, [_idsName], [negative], outputs)) { }
            }
        }

        public void RunUnet()
        {
            var half = _stepInputs[0].Length;
            for (var k = 0; k < _timesteps.Length; k++)
            {
                _stepInputs[k].CopyTo(_sample, 0);
                _stepInputs[k].CopyTo(_sample, half);
                _timestep[0] = (float)_timesteps[k];
                _unet.RunWithBinding(_runOptions, _binding);
            }
        }

        public void RunVae()
        {
            using (_vae.Run(_runOptions, ["latent_sample"], [_latents], ["sample"])) { }
        }

        public void Dispose()
        {
            _binding.Dispose();
            foreach (var v in _unetInputs) v.Dispose();
            foreach (var (_, _, prompt, negative) in _encoders)
            {
                prompt.Dispose();
                negative.Dispose();
            }
            _unetOutput.Dispose();
            _latents.Dispose();
            _runOptions.Dispose();
        }
    }
}
