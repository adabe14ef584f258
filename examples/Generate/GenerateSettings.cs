using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Onnx;

namespace Generate;

/// <summary>Everything the command line was asked for, checked before any model is loaded or file written.</summary>
internal sealed record GenerateSettings
{
    public required string ModelPath { get; init; }
    public string? Sampler { get; init; }
    public string? Ensemble { get; init; }
    public int Steps { get; init; }
    public double? Guidance { get; init; }
    public double GuidanceRescale { get; init; }

    /// <summary>--cfg-pp: CFG++ guidance, --guidance then being its λ.</summary>
    public bool CfgPlusPlus { get; init; }

    /// <summary>CFG++'s λ when --guidance is not given: about what a plain weight of 3–7 does at 20 steps.</summary>
    public const double DefaultCfgPlusPlusScale = 0.6;
    public string Label { get; init; } = "all";
    public ulong Seed { get; init; }
    public int? Batch { get; init; }

    /// <summary>Images to generate: --batch, else 100 (the digits grid) or, with --prompt, 1.</summary>
    public int ImageCount => Prompt is null ? Batch ?? 100 : Prompts.Count * (Batch ?? 1);

    /// <summary>Every --prompt, in order; a batch item each (times --batch).</summary>
    public IReadOnlyList<string> Prompts { get; init; } = [];

    /// <summary>The first --prompt, or null for a class-label or unconditional model.</summary>
    public string? Prompt => Prompts.Count > 0 ? Prompts[0] : null;

    /// <summary>Every --negative-prompt: none, one for every prompt, or one per prompt. An explicit "" is encoded; none gives zeros where an SDXL model forces them.</summary>
    public IReadOnlyList<string> NegativePrompts { get; init; } = [];

    public string? NegativePrompt => NegativePrompts.Count > 0 ? NegativePrompts[0] : null;

    /// <summary>SDXL: --prompt-2, paired by position with --prompt.</summary>
    public IReadOnlyList<string> Prompts2 { get; init; } = [];

    /// <summary>SDXL: --negative-prompt-2, paired by position with --negative-prompt.</summary>
    public IReadOnlyList<string> NegativePrompts2 { get; init; } = [];

    /// <summary>SDXL micro-conditioning: --original-size, --crops-coords, --target-size, their --negative-… counterparts, --aesthetic-score, --negative-aesthetic-score.</summary>
    public Diffusion.Sdk.StableDiffusion.MicroConditioning? MicroConditioning { get; init; }

    public int ClipSkip { get; init; }
    public string? Refiner { get; init; }
    public double HighNoiseFraction { get; init; } = 0.8;
    public bool HighNoiseFractionGiven { get; init; }
    public string? Vae { get; init; }
    public TimestepSpacing? TimestepSpacing { get; init; }
    /// <summary>--spacing: a published step schedule (Align Your Steps), or null for the model's spacing.</summary>
    public StepSpacing? Spacing { get; init; }
    public int? Width { get; init; }
    public int? Height { get; init; }
    public string? InitImage { get; init; }
    public string? Mask { get; init; }
    public double Strength { get; init; } = 0.8;
    public int? OriginalInferenceSteps { get; init; }
    public string? LatentsOut { get; init; }
    /// <summary>--lora values as given: FILE or FILE:WEIGHT.</summary>
    public IReadOnlyList<string> Loras { get; init; } = [];
    public string? EmbeddingsOut { get; init; }
    public Diffusion.Sdk.StableDiffusion.PromptSyntax? PromptSyntax { get; init; }
    public int? PromptMaxWindows { get; init; }
    public string? Out { get; init; }
    public string? OutDir { get; init; }
    public int? Columns { get; init; }
    public bool Karras { get; init; }
    public bool Threshold { get; init; }
    public double Temperature { get; init; } = 1;
    public double NoiseInjection { get; init; }
    public double? Eta { get; init; }
    public double? Rtol { get; init; }
    public double? Atol { get; init; }
    /// <summary>Whether --steps was on the command line (an adaptive sampler ignores it, with a warning).</summary>
    public bool StepsGiven { get; init; }
    /// <summary>Whether --strength was on the command line (it applies only with --init-image).</summary>
    public bool StrengthGiven { get; init; }
    /// <summary>Whether --label was on the command line (it applies only to class-label models).</summary>
    public bool LabelGiven { get; init; }
    public OnnxExecutionProvider Device { get; init; }
    public int? NumTrainTimesteps { get; init; }
    public PredictionType? PredictionType { get; init; }
    public string? SampleInput { get; init; }
    public string? TimestepInput { get; init; }
    public string? PluginsDirectory { get; init; }
    /// <summary>--list-samplers: print the registry and exit.</summary>
    public bool ListSamplers { get; init; }
    /// <summary>--scheduler-config KEY=VALUE, as given.</summary>
    public IReadOnlyList<string> SchedulerConfig { get; init; } = [];
    public bool Statistics { get; init; }

    /// <summary>The --scheduler-config overrides by key (the last one wins for a repeated key); call after <see cref="Problem"/>.</summary>
    public Dictionary<string, string> SchedulerOverrides()
    {
        var overrides = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in SchedulerConfig)
        {
            var at = pair.IndexOf('=', StringComparison.Ordinal);
            if (at > 0) overrides[pair[..at].Trim()] = pair[(at + 1)..];
        }
        return overrides;
    }

    private string? SchedulerConfigProblem()
    {
        foreach (var pair in SchedulerConfig)
            if (pair.IndexOf('=', StringComparison.Ordinal) is var at && (at < 0 || string.IsNullOrWhiteSpace(pair[..at])))
                return $"--scheduler-config must be KEY=VALUE with a scheduler_config.json key, e.g. timestep_spacing=trailing (got '{pair}')";
        return null;
    }

    /// <summary>Options given that have no effect on this run, one line each (printed as warnings; the run goes on).</summary>
    public IEnumerable<string> Warnings()
    {
        if (StrengthGiven && InitImage is null) yield return "--strength has no effect without --init-image (text to image runs the whole schedule)";
        if (LabelGiven && Prompt is not null) yield return "--label has no effect with --prompt (class labels are for class-label models such as the digits)";
    }

    /// <summary>The first problem with the arguments, as one line, or null when they are usable.</summary>
    public string? Problem()
    {
        if (Out is null && OutDir is null && LatentsOut is null && EmbeddingsOut is null)
            return "give --out FILE.png (a grid) and/or --out-dir DIR (one PNG per image) and/or --latents-out FILE.npy (and/or, with --prompt, --embeddings-out FILE.npy)";
        if (Out is not null && !Out.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) return $"--out must name a .png file (got '{Out}')";
        if (LatentsOut is not null && !LatentsOut.EndsWith(".npy", StringComparison.OrdinalIgnoreCase)) return $"--latents-out must name a .npy file (got '{LatentsOut}')";
        if (Width is < 1) return $"--width must be a positive multiple of 8 (got {Width})";
        if (Height is < 1) return $"--height must be a positive multiple of 8 (got {Height})";
        if (!(Strength > 0 && Strength <= 1)) return $"--strength must be in (0, 1] (got {Strength})";
        if (InitImage is not null && !File.Exists(InitImage)) return $"--init-image '{InitImage}' does not exist";
        if (Mask is not null && InitImage is null) return "--mask needs --init-image (the picture it applies to)";
        if (Mask is not null && !File.Exists(Mask)) return $"--mask '{Mask}' does not exist";
        if (Prompt is null && (NegativePrompt is not null || InitImage is not null || Width is not null || Height is not null))
            return "--negative-prompt, --width, --height and --init-image need --prompt (a Stable Diffusion model)";
        if (Loras.Count > 0 && Prompt is null) return "--lora needs --prompt (LoRA adapters are merged into a Stable Diffusion model)";
        foreach (var lora in Loras)
        {
            if (LoraArgument.Parse(lora) is not { } adapter) return $"--lora must be FILE or FILE:WEIGHT with a finite weight (got '{lora}')";
            if (!File.Exists(adapter.Path)) return $"--lora file '{adapter.Path}' does not exist";
        }
        if (Prompt is null && (PromptSyntax is not null || PromptMaxWindows is not null || EmbeddingsOut is not null))
            return "--prompt-syntax, --prompt-max-windows and --embeddings-out need --prompt (a Stable Diffusion model)";
        if (PromptMaxWindows is not null && PromptSyntax != Diffusion.Sdk.StableDiffusion.PromptSyntax.A1111)
            return "--prompt-max-windows applies to long prompts, which need --prompt-syntax a1111 (plain prompts are cut at 75 tokens)";
        if (PromptMaxWindows is < 1) return $"--prompt-max-windows must be at least 1 (got {PromptMaxWindows})";
        if (EmbeddingsOut is not null && OutputPaths.FileProblem(EmbeddingsOut, "--embeddings-out", ".npy", "name a .npy file") is { } embeddings) return embeddings;
        if (EmbeddingsOut is not null && SamePath(EmbeddingsOut, LatentsOut)) return $"--embeddings-out and --latents-out both name '{EmbeddingsOut}'; give them different files";
        if (XlProblem() is { } xl) return xl;
        if (Steps < 1) return $"--steps must be at least 1 (got {Steps})";
        if (OriginalInferenceSteps is < 1) return $"--original-inference-steps must be at least 1 (got {OriginalInferenceSteps})";
        if (Batch is < 1) return $"--batch must be at least 1 (got {Batch})";
        if (Columns is < 1) return $"--columns must be at least 1 (got {Columns})";
        if (Columns > ImageCount) return $"--columns must be from 1 to --batch = {ImageCount} (got {Columns})";
        if (SchedulerConfigProblem() is { } schedulerConfig) return schedulerConfig;
        if (SamplingProblem() is { } sampling) return sampling;
        if (Ensemble is not null && Sampler is not null) return "give either --sampler or --ensemble, not both (an ensemble names its samplers)";
        if (Ensemble is not null && Prompt is not null) return "--ensemble is for the digits and other class-label or unconditional models; text to image (--prompt) runs one sampler";
        if (EnsembleProblem() is { } ensemble) return ensemble;
        if (Label is not ("all" or "none") && !long.TryParse(Label, out _)) return $"--label must be a class number, 'all' or 'none' (got '{Label}')";
        if (PluginsDirectory is not null && File.Exists(PluginsDirectory)) return $"--plugins '{PluginsDirectory}' is a file; name the folder that holds the plugin assemblies";
        if (PluginsDirectory is not null && !Directory.Exists(PluginsDirectory)) return $"--plugins folder '{PluginsDirectory}' does not exist";
        if (Out is not null && OutputPaths.FileProblem(Out) is { } grid) return grid;
        if (OutDir is not null && OutputPaths.FolderProblem(OutDir, Out, ImageCount) is { } folder) return folder;
        if (!File.Exists(ModelPath) && !Directory.Exists(ModelPath)) return $"--model '{ModelPath}' is neither a model folder nor an .onnx file";
        if (Prompt is null && IsStableDiffusionFolder) return $"--model '{ModelPath}' is a Stable Diffusion folder: give --prompt TEXT";
        if (Prompt is not null && !IsStableDiffusionFolder) return $"--prompt needs a Stable Diffusion folder (tokenizer/, text_encoder/, unet/, vae_decoder/); '{ModelPath}' is not one";
        return null;
    }

    private static bool SamePath(string a, string? b)
    {
        if (b is null) return false;
        try
        {
            return string.Equals(Path.GetFullPath(a), Path.GetFullPath(b), StringComparison.Ordinal);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return false;
        }
    }


    /// <summary>Whether <see cref="ModelPath"/> is a Stable Diffusion export (it has a text encoder; an SDXL refiner has only text_encoder_2).</summary>
    public bool IsStableDiffusionFolder => IsTextToImageFolder(ModelPath);

    private static bool IsTextToImageFolder(string path) => Directory.Exists(path) &&
        (File.Exists(Path.Combine(path, "text_encoder", "model.onnx")) || File.Exists(Path.Combine(path, "text_encoder_2", "model.onnx")));

    // The SDXL options: they need --prompt, pair by position, and name folders that exist.
    private string? XlProblem()
    {
        var xlGiven = Prompts2.Count > 0 || NegativePrompts2.Count > 0 || MicroConditioning is not null || ClipSkip != 0 || Refiner is not null || HighNoiseFractionGiven;
        if (Prompt is null && (xlGiven || Vae is not null))
            return "--prompt-2, --negative-prompt-2, the size, crop and aesthetic options, --clip-skip, --refiner, --high-noise-fraction and --vae need --prompt (a Stable Diffusion model)";
        if (Prompts2.Count > Prompts.Count) return $"--prompt-2 pairs with --prompt by position: {Prompts2.Count} given for {Prompts.Count} --prompt";
        if (NegativePrompts.Count > 1 && NegativePrompts.Count != Prompts.Count)
            return $"give one --negative-prompt for every prompt, or one per --prompt ({NegativePrompts.Count} given for {Prompts.Count} --prompt)";
        if (NegativePrompts2.Count > Math.Max(NegativePrompts.Count, 1) || (NegativePrompts2.Count > 1 && NegativePrompts2.Count != NegativePrompts.Count))
            return $"--negative-prompt-2 pairs with --negative-prompt by position: {NegativePrompts2.Count} given for {NegativePrompts.Count} --negative-prompt";
        if (ClipSkip < 0) return $"--clip-skip must be 0 or more (got {ClipSkip})";
        if (!(HighNoiseFraction > 0 && HighNoiseFraction < 1)) return $"--high-noise-fraction must be in (0, 1) (got {HighNoiseFraction})";
        if (HighNoiseFractionGiven && Refiner is null) return "--high-noise-fraction needs --refiner FOLDER";
        if (Refiner is not null && InitImage is not null) return "--refiner continues a text-to-image run; it cannot be combined with --init-image";
        if (Refiner is not null && !IsTextToImageFolder(Refiner)) return $"--refiner '{Refiner}' is not an SDXL refiner folder (tokenizer_2/, text_encoder_2/, unet/, vae_decoder/)";
        if (Vae is not null && !Directory.Exists(Vae)) return $"--vae folder '{Vae}' does not exist";
        try
        {
            MicroConditioning?.Validate();
        }
        catch (Diffusion.Sdk.Abstractions.SamplingOptionException e)
        {
            return Reword(e);
        }
        return null;
    }

    /// <summary>
    /// The request's sampling options: only what the command line set overrides the model's configuration (a flag
    /// left off keeps the model's own use_karras_sigmas or thresholding). Guidance defaults to 3 for a model with
    /// a conditioning input and to 1 (none) for one without; with --cfg-pp to λ = 0.6.
    /// </summary>
    public SamplingOptions SamplingOptions(bool conditional = true) => new()
    {
        Sampler = Sampler,
        Steps = Steps,
        TimestepSpacing = TimestepSpacing,
        Spacing = Spacing,
        GuidanceScale = Guidance ?? (CfgPlusPlus ? DefaultCfgPlusPlusScale : conditional ? 3 : 1),
        GuidanceRescale = GuidanceRescale,
        CfgPlusPlus = CfgPlusPlus,
        UseKarrasSigmas = Karras ? true : null,
        Thresholding = Threshold ? true : null,
        Temperature = Temperature,
        NoiseInjection = NoiseInjection,
        Eta = Eta,
        OriginalInferenceSteps = OriginalInferenceSteps,
        Rtol = Rtol,
        Atol = Atol,
        SchedulerOverrides = SchedulerOverrides(),
    };

    /// <summary>The parsed <c>--ensemble</c>, or null when none was given (call after <see cref="Problem"/>).</summary>
    public Diffusion.Sdk.Pipeline.SamplerEnsemble? SamplerEnsemble() => Ensemble is null ? null : Diffusion.Sdk.Pipeline.SamplerEnsemble.Parse(Ensemble);

    private string? EnsembleProblem()
    {
        try
        {
            SamplerEnsemble();
            return null;
        }
        catch (Diffusion.Sdk.Abstractions.SamplingOptionException e)
        {
            return $"--ensemble must be {e.Allowed} (got '{Ensemble}')";
        }
    }

    // The options' own range checks, reworded with the command line's option names.
    private string? SamplingProblem()
    {
        try
        {
            SamplingOptions().Validate();
            return null;
        }
        catch (Diffusion.Sdk.Abstractions.SamplingOptionException e)
        {
            return Reword(e);
        }
    }

    /// <summary>An option or request error in the command line's words: the option, what it allows, what was given.</summary>
    public static string Reword(Diffusion.Sdk.Abstractions.SamplingOptionException e) =>
        CommandLineName(e.Option) is var name && name == e.Option ? e.Message : $"{name} must be {e.Allowed} (got {e.Value ?? "nothing"})";

    private static string CommandLineName(string option) => option switch
    {
        nameof(Diffusion.Sdk.Abstractions.SamplingOptions.Steps) => "--steps",
        nameof(Diffusion.Sdk.StableDiffusion.MicroConditioning.OriginalSize) => "--original-size",
        nameof(Diffusion.Sdk.StableDiffusion.MicroConditioning.TargetSize) => "--target-size",
        nameof(Diffusion.Sdk.StableDiffusion.MicroConditioning.CropsCoordsTopLeft) => "--crops-coords",
        nameof(Diffusion.Sdk.StableDiffusion.MicroConditioning.NegativeOriginalSize) => "--negative-original-size",
        nameof(Diffusion.Sdk.StableDiffusion.MicroConditioning.NegativeTargetSize) => "--negative-target-size",
        nameof(Diffusion.Sdk.StableDiffusion.MicroConditioning.NegativeCropsCoordsTopLeft) => "--negative-crops-coords",
        nameof(Diffusion.Sdk.StableDiffusion.MicroConditioning.AestheticScore) => "--aesthetic-score",
        nameof(Diffusion.Sdk.StableDiffusion.MicroConditioning.NegativeAestheticScore) => "--negative-aesthetic-score",
        nameof(Diffusion.Sdk.StableDiffusion.StableDiffusionRequest.ClipSkip) => "--clip-skip",
        nameof(Diffusion.Sdk.StableDiffusion.StableDiffusionRequest.HighNoiseFraction) => "--high-noise-fraction",
        nameof(Diffusion.Sdk.Abstractions.SamplingOptions.GuidanceScale) => "--guidance",
        nameof(Diffusion.Sdk.Abstractions.SamplingOptions.GuidanceRescale) => "--guidance-rescale",
        nameof(Diffusion.Sdk.Abstractions.SamplingOptions.CfgPlusPlus) => "--cfg-pp",
        nameof(Diffusion.Sdk.Abstractions.SamplingOptions.Temperature) => "--temperature",
        nameof(Diffusion.Sdk.Abstractions.SamplingOptions.NoiseInjection) => "--noise-injection",
        nameof(Diffusion.Sdk.Abstractions.SamplingOptions.Eta) => "--eta",
        nameof(Diffusion.Sdk.Abstractions.SamplingOptions.Rtol) => "--rtol",
        nameof(Diffusion.Sdk.Abstractions.SamplingOptions.Atol) => "--atol",
        nameof(Diffusion.Sdk.Abstractions.SamplingOptions.Sampler) => "--sampler",
        nameof(Diffusion.Sdk.Abstractions.SamplingOptions.UseKarrasSigmas) => "--karras",
        nameof(Diffusion.Sdk.Abstractions.SamplingOptions.Thresholding) => "--threshold",
        nameof(Diffusion.Sdk.Abstractions.SamplingOptions.Spacing) => "--spacing",
        nameof(Diffusion.Sdk.Pipeline.GenerationRequest.BatchSize) => "--batch",
        nameof(Diffusion.Sdk.Pipeline.GenerationRequest.ClassLabel) or nameof(Diffusion.Sdk.Pipeline.GenerationRequest.ClassLabels) => "--label",
        _ when option.StartsWith(nameof(Diffusion.Sdk.Pipeline.GenerationRequest.Ensemble), StringComparison.Ordinal) => "--ensemble",
        _ => option,
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
