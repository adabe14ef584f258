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
    /// <summary>The third set's churn <c>step_kwargs</c> (<c>s_churn</c>, <c>s_tmin</c>, <c>s_tmax</c>, <c>s_noise</c>), null when absent.</summary>
    public double? SChurn { get; init; }
    public double? STmin { get; init; }
    public double? STmax { get; init; }
    public double? SNoise { get; init; }
    /// <summary>The third set's <c>set_timesteps</c> arguments besides the count: an explicit timestep or σ list, and μ.</summary>
    public double[]? ExplicitTimesteps { get; init; }
    public double[]? ExplicitSigmas { get; init; }
    public double? Mu { get; init; }
    public required double[] Timesteps { get; init; }
    public double[]? Sigmas { get; init; }
    public required double InitNoiseSigma { get; init; }
    public required int[] Shape { get; init; }
    public required double[] Sample { get; init; }
    public required Step[] Steps { get; init; }
    public AddNoiseCase? AddNoise { get; init; }
    /// <summary>Flow matching's add-noise (<c>scale_noise</c>): σ(t)·noise + (1 − σ(t))·original.</summary>
    public AddNoiseCase? ScaleNoise { get; init; }

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
        var add = NoiseCase(root["add_noise"]);
        var kwargs = root["step_kwargs"] as JsonObject;
        var setTimesteps = root["set_timesteps"] as JsonObject;
        return new ReferenceTrajectory
        {
            File = Path.GetFileName(path),
            Scheduler = root["scheduler"]!.GetValue<string>(),
            ConfigJson = root["config"]!.ToJsonString(),
            NumInferenceSteps = root["num_inference_steps"]!.GetValue<int>(),
            Eta = root["eta"]?.GetValue<double>(),
            StepOrder = root["step_kwargs"]?["order"]?.GetValue<int>(),
            StepEta = root["step_kwargs"]?["eta"]?.GetValue<double>(),
            SChurn = Number(kwargs?["s_churn"]),
            STmin = Number(kwargs?["s_tmin"]),
            STmax = Number(kwargs?["s_tmax"]),
            SNoise = Number(kwargs?["s_noise"]),
            ExplicitTimesteps = Doubles(setTimesteps?["timesteps"]),
            ExplicitSigmas = Doubles(setTimesteps?["sigmas"]),
            Mu = Number(setTimesteps?["mu"]),
            Timesteps = Doubles(root["timesteps"])!,
            Sigmas = Doubles(root["sigmas"]),
            InitNoiseSigma = root["init_noise_sigma"]!.GetValue<double>(),
            Shape = root["shape"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray(),
            Sample = Doubles(root["sample"])!,
            Steps = steps,
            AddNoise = add,
            ScaleNoise = NoiseCase(root["scale_noise"]),
        };
    }

    private static AddNoiseCase? NoiseCase(JsonNode? node) => node is JsonObject a
        ? new AddNoiseCase(Doubles(a["original"])!, Doubles(a["noise"])!, Doubles(a["timesteps"])!, Doubles(a["expected"])!)
        : null;

    // A number, or the strings Python's json writes for the non-finite ones (s_tmax = Infinity), or null.
    private static double? Number(JsonNode? node) => node?.GetValueKind() switch
    {
        JsonValueKind.Number => node.GetValue<double>(),
        JsonValueKind.String => double.Parse(node.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture),
        _ => null,
    };

    private static double[]? Doubles(JsonNode? node) => node switch
    {
        null => null,
        JsonArray array => array.Select(x => x!.GetValueKind() == JsonValueKind.Number ? x.GetValue<double>() : double.NaN).ToArray(),
        _ => null,
    };
}
