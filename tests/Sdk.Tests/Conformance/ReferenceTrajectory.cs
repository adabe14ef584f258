using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Diffusion.Sdk.Tests.Conformance;

/// <summary>One reference file of <c>TestData/reference/schedulers</c>: a sampler run recorded from the reference implementation.</summary>
public sealed class ReferenceTrajectory
{
    public required string File { get; init; }
    public required string Scheduler { get; init; }
    public required string ConfigJson { get; init; }
    public required int NumInferenceSteps { get; init; }
    public double? Eta { get; init; }
    /// <summary>The <c>step_kwargs</c> of the file: <c>order</c> (LMS) and <c>eta</c> (TCD's gamma), null when absent.</summary>
    public int? StepOrder { get; init; }
    public double? StepEta { get; init; }
    public required double[] Timesteps { get; init; }
    public double[]? Sigmas { get; init; }
    public required double InitNoiseSigma { get; init; }
    public required int[] Shape { get; init; }
    public required double[] Sample { get; init; }
    public required Step[] Steps { get; init; }
    public AddNoiseCase? AddNoise { get; init; }

    public int BatchSize => Shape[0];

    public sealed record Step(double T, double[] ModelInput, double[] ModelOutput, double[]? Noise, double[] PrevSample, double[]? PredOriginalSample,
        double[]? Denoised = null, double[]? PredNoisedSample = null);

    public sealed record AddNoiseCase(double[] Original, double[] Noise, double[] Timesteps, double[] Expected);

    public static ReferenceTrajectory Load(string path)
    {
        var root = JsonNode.Parse(System.IO.File.ReadAllText(path))!.AsObject();
        var steps = root["steps"]!.AsArray().Select(s => new Step(
            s!["t"]!.GetValue<double>(), Doubles(s["model_input"])!, Doubles(s["model_output"])!, Doubles(s["noise"]),
            Doubles(s["prev_sample"])!, Doubles(s["pred_original_sample"]), Doubles(s["denoised"]), Doubles(s["pred_noised_sample"]))).ToArray();
        var add = root["add_noise"] is JsonObject a
            ? new AddNoiseCase(Doubles(a["original"])!, Doubles(a["noise"])!, Doubles(a["timesteps"])!, Doubles(a["expected"])!)
            : null;
        return new ReferenceTrajectory
        {
            File = Path.GetFileName(path),
            Scheduler = root["scheduler"]!.GetValue<string>(),
            ConfigJson = root["config"]!.ToJsonString(),
            NumInferenceSteps = root["num_inference_steps"]!.GetValue<int>(),
            Eta = root["eta"]?.GetValue<double>(),
            StepOrder = root["step_kwargs"]?["order"]?.GetValue<int>(),
            StepEta = root["step_kwargs"]?["eta"]?.GetValue<double>(),
            Timesteps = Doubles(root["timesteps"])!,
            Sigmas = Doubles(root["sigmas"]),
            InitNoiseSigma = root["init_noise_sigma"]!.GetValue<double>(),
            Shape = root["shape"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray(),
            Sample = Doubles(root["sample"])!,
            Steps = steps,
            AddNoise = add,
        };
    }

    private static double[]? Doubles(JsonNode? node) => node switch
    {
        null => null,
        JsonArray array => array.Select(x => x!.GetValueKind() == JsonValueKind.Number ? x.GetValue<double>() : double.NaN).ToArray(),
        _ => null,
    };
}
