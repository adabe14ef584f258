using Diffusion.Configuration;
using Diffusion.Onnx;

namespace Generate;

/// <summary>Everything the command line was asked for, checked before any model is loaded or file written.</summary>
internal sealed record GenerateSettings
{
    public required string ModelPath { get; init; }
    public string? Sampler { get; init; }
    public int Steps { get; init; }
    public double Guidance { get; init; }
    public double GuidanceRescale { get; init; }
    public string Label { get; init; } = "all";
    public ulong Seed { get; init; }
    public int Batch { get; init; }
    public string? Out { get; init; }
    public string? OutDir { get; init; }
    public int? Columns { get; init; }
    public bool Karras { get; init; }
    public bool Threshold { get; init; }
    public double Temperature { get; init; } = 1;
    public double NoiseInjection { get; init; }
    public double? Eta { get; init; }
    public OnnxExecutionProvider Device { get; init; }
    public int? NumTrainTimesteps { get; init; }
    public PredictionType? PredictionType { get; init; }
    public string? SampleInput { get; init; }
    public string? TimestepInput { get; init; }
    public string? PluginsDirectory { get; init; }
    public bool Statistics { get; init; }

    /// <summary>The first problem with the arguments, as one line, or null when they are usable.</summary>
    public string? Problem()
    {
        if (Out is null && OutDir is null) return "give --out FILE.png (a grid) and/or --out-dir DIR (one PNG per image)";
        if (Out is not null && !Out.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) return $"--out must name a .png file (got '{Out}')";
        if (Steps < 1) return $"--steps must be at least 1 (got {Steps})";
        if (Batch < 1) return $"--batch must be at least 1 (got {Batch})";
        if (Columns is < 1) return $"--columns must be at least 1 (got {Columns})";
        if (!(Guidance >= 0) || !double.IsFinite(Guidance)) return $"--guidance must be a finite number >= 0 (got {Guidance})";
        if (!(Temperature > 0) || !double.IsFinite(Temperature)) return $"--temperature must be a finite number > 0 (got {Temperature})";
        if (!(NoiseInjection >= 0) || !double.IsFinite(NoiseInjection)) return $"--noise-injection must be a finite number >= 0 (got {NoiseInjection})";
        if (Eta is { } eta && (!(eta >= 0) || !double.IsFinite(eta))) return $"--eta must be a finite number >= 0 (got {Eta})";
        if (Label is not ("all" or "none") && !long.TryParse(Label, out _)) return $"--label must be a class number, 'all' or 'none' (got '{Label}')";
        if (PluginsDirectory is not null && !Directory.Exists(PluginsDirectory)) return $"--plugins folder '{PluginsDirectory}' does not exist";
        if (!File.Exists(ModelPath) && !Directory.Exists(ModelPath)) return $"--model '{ModelPath}' is neither a model folder nor an .onnx file";
        return null;
    }

    public SamplingOptions SamplingOptions(string defaultSampler) => new()
    {
        SchedulerType = Sampler ?? defaultSampler,
        NumInferenceSteps = Steps,
        GuidanceScale = Guidance,
        GuidanceRescale = GuidanceRescale,
        UseKarrasSigmas = Karras,
        Thresholding = Threshold,
        Temperature = Temperature,
        NoiseInjection = NoiseInjection,
        Eta = Eta,
        NumTrainTimesteps = NumTrainTimesteps ?? 1000,
        PredictionType = PredictionType ?? Diffusion.Configuration.PredictionType.Epsilon,
    };

    public OnnxModelOptions ModelOptions() => new()
    {
        ExecutionProvider = Device,
        SampleInput = SampleInput,
        TimestepInput = TimestepInput,
        NumTrainTimesteps = NumTrainTimesteps,
        PredictionType = PredictionType,
    };
}
