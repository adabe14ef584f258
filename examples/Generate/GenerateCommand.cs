using Diffusion.Sdk.Sampling;
using System.CommandLine;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.StableDiffusion;

namespace Generate;

/// <summary>The command line: every option, its default and its help text.</summary>
internal static class GenerateCommand
{
    public static readonly string DefaultModel = Path.Combine(AppContext.BaseDirectory, "models", "digits");

    private static readonly Option<string> Model = new("--model") { Description = "A model folder (model_index.json, scheduler/, unet/) or an .onnx file", DefaultValueFactory = _ => DefaultModel, HelpName = "PATH" };
    private static readonly Option<string?> Sampler = new("--sampler") { Description = $"{string.Join(", ", SamplerList.BuiltInNames())}, or a plugin's sampler; --list-samplers prints what the registry holds (default: the model's own)", HelpName = "NAME" };
    private static readonly Option<string?> Ensemble = new("--ensemble") { Description = "Several samplers from the same noise, their results averaged with weights, e.g. ddim:0.5,dpm-solver:0.5 (instead of --sampler; costs the sum of their model calls)", HelpName = "NAME:W,…" };
    private static readonly Option<int> Steps = new("--steps") { Description = "Sampling steps", DefaultValueFactory = _ => 20, HelpName = "N" };
    private static readonly Option<double?> Guidance = new("--guidance") { Description = "Classifier-free guidance scale (1 = none; default 3 for a conditional model, 1 otherwise)", HelpName = "W" };
    private static readonly Option<bool> CfgPlusPlus = new("--cfg-pp") { Description = "CFG++ guidance (Chung et al. 2024): --guidance is then λ in [0, 1] (default 0.6); with euler, euler-ancestral or dpm-solver" };
    private static readonly Option<double> GuidanceRescale = new("--guidance-rescale") { Description = "Guidance rescale φ in [0, 1]", HelpName = "PHI" };
    private static readonly Option<string> Label = new("--label") { Description = "Class label for every image, 'all' (every class in turn) or 'none' (unconditional)", DefaultValueFactory = _ => "all", HelpName = "L" };
    private static readonly Option<ulong> Seed = new("--seed") { Description = "Seed of every random draw; the same seed and options give the same bytes", HelpName = "S" };
    private static readonly Option<int?> Batch = new("--batch", "--images-per-prompt") { Description = "Images to generate (default 100); with --prompt, images per prompt (default 1), as the reference's num_images_per_prompt", HelpName = "B" };
    private static readonly Option<string[]> Prompt = new("--prompt") { Description = "Text to image with a Stable Diffusion folder (tokenizer/, text_encoder/, unet/, vae_decoder/; SDXL: also tokenizer_2/, text_encoder_2/); repeat it for a batch of prompts", HelpName = "TEXT" };
    private static readonly Option<string[]> NegativePrompt = new("--negative-prompt") { Description = "What guidance steers away from: once for every prompt, or once per --prompt (default: none — the empty prompt, or zeros where an SDXL model forces them; an explicit \"\" is encoded)", HelpName = "TEXT" };
    private static readonly Option<string[]> Prompt2 = new("--prompt-2") { Description = "SDXL: the second text encoder's text, paired by position with --prompt (default: the prompt)", HelpName = "TEXT" };
    private static readonly Option<string[]> NegativePrompt2 = new("--negative-prompt-2") { Description = "SDXL: the second text encoder's negative text, paired by position with --negative-prompt (default: the negative prompt)", HelpName = "TEXT" };
    private static readonly Option<PixelSize?> OriginalSize = Size("--original-size", "SDXL micro-conditioning: the original image size, height first (default: the image's size)");
    private static readonly Option<CropOffset?> CropsCoords = Crop("--crops-coords", "SDXL micro-conditioning: the crop's top-left corner, top first (default: 0,0)");
    private static readonly Option<PixelSize?> TargetSize = Size("--target-size", "SDXL micro-conditioning: the target size, height first (default: the image's size)");
    private static readonly Option<PixelSize?> NegativeOriginalSize = Size("--negative-original-size", "SDXL: the original size for the unconditional rows (text to image uses it only with --negative-target-size)");
    private static readonly Option<CropOffset?> NegativeCropsCoords = Crop("--negative-crops-coords", "SDXL: the crop for the unconditional rows (default: 0,0)");
    private static readonly Option<PixelSize?> NegativeTargetSize = Size("--negative-target-size", "SDXL: the target size for the unconditional rows (text to image uses it only with --negative-original-size)");
    private static readonly Option<double?> AestheticScore = new("--aesthetic-score") { Description = "SDXL refiner: the aesthetic score of the conditional rows (default 6)", HelpName = "S" };
    private static readonly Option<double?> NegativeAestheticScore = new("--negative-aesthetic-score") { Description = "SDXL refiner: the aesthetic score of the unconditional rows (default 2.5)", HelpName = "S" };
    private static readonly Option<int> ClipSkip = new("--clip-skip") { Description = "SDXL: skip the last N layers of each text encoder for the prompt (hidden_states[-(N+2)]; the negative prompt keeps [-2], as the reference)", HelpName = "N" };
    private static readonly Option<string?> Refiner = new("--refiner") { Description = "SDXL base → refiner: the refiner's folder; the base stops at --high-noise-fraction and the refiner finishes", HelpName = "FOLDER" };
    private static readonly Option<double?> HighNoiseFraction = new("--high-noise-fraction") { Description = "With --refiner: the fraction of the schedule the base runs, in (0, 1) (default 0.8)", HelpName = "F" };
    private static readonly Option<TimestepSpacing?> Spacing = new("--timestep-spacing")
    {
        Description = "leading, linspace or trailing (default: the model's timestep_spacing; SDXL-Turbo style: trailing)", HelpName = "S",
        CustomParser = r =>
        {
            try
            {
                return ConfigNames.ParseTimestepSpacing(r.Tokens.Single().Value, "--timestep-spacing");
            }
            catch (Diffusion.Sdk.Abstractions.SchedulerConfigException e)
            {
                return Invalid<TimestepSpacing?>(r, null, $"--timestep-spacing must be {e.Allowed} (got '{r.Tokens.Single().Value}')");
            }
        },
    };
    private static readonly Option<StepSpacing?> StepSpacingOption = new("--spacing")
    {
        Description = "A published step schedule in place of the model's spacing: ays (Align Your Steps, the model family's list interpolated to --steps; σ to samplers that take noise levels, else timesteps), ays-sigmas or ays-timesteps to force the form", HelpName = "S",
        CustomParser = r => r.Tokens.Single().Value switch
        {
            "ays" => StepSpacing.AlignYourSteps,
            "ays-sigmas" => StepSpacing.AlignYourStepsSigmas,
            "ays-timesteps" => StepSpacing.AlignYourStepsTimesteps,
            var other => Invalid<StepSpacing?>(r, null, $"--spacing must be ays, ays-sigmas or ays-timesteps (got '{other}')"),
        },
    };
    private static readonly Option<string?> Vae = new("--vae") { Description = "Use the VAE of another folder (vae_decoder/, or model.onnx with its config.json), e.g. a float32 or fp16-fix VAE", HelpName = "FOLDER" };
    private static readonly Option<int?> Width = new("--width") { Description = "Image width in pixels, a multiple of 8 (default: the model's size)", HelpName = "W" };
    private static readonly Option<int?> Height = new("--height") { Description = "Image height in pixels, a multiple of 8 (default: the model's size)", HelpName = "H" };
    private static readonly Option<string?> InitImage = new("--init-image") { Description = "Image to image: the start picture (PNG; another size than the request's is resized)", HelpName = "PNG" };
    private static readonly Option<string?> Mask = new("--mask") { Description = "Inpainting: repaint the white (luma >= 128) part of --init-image, keep the black part", HelpName = "PNG" };
    private static readonly Option<double> Strength = new("--strength") { Description = "Image to image: how much of the schedule to run, in (0, 1] (default 0.8; 1 with --mask)", DefaultValueFactory = _ => 0.8, HelpName = "S" };
    private static readonly Option<int?> OriginalInferenceSteps = new("--original-inference-steps") { Description = "LCM and TCD: the distillation schedule's length that the steps are chosen from (default: the model's scheduler_config.json, else 50)", HelpName = "N" };
    private static readonly Option<string[]> Lora = new("--lora") { Description = "Text to image: merge a LoRA adapter (.safetensors, kohya/A1111 or diffusers/PEFT) into the model's weights at load time, with its weight (default 1); repeat for several", HelpName = "FILE[:WEIGHT]", Arity = ArgumentArity.ZeroOrMore, AllowMultipleArgumentsPerToken = false };
    private static readonly Option<PromptSyntax?> PromptSyntaxOption = new("--prompt-syntax")
    {
        Description = "How --prompt and --negative-prompt are read: plain (default; cut at 75 tokens) or a1111 ((word:1.3), (word), [word], \\( escapes, and prompts longer than 75 tokens, as diffusers' lpw_stable_diffusion)",
        HelpName = "plain|a1111",
        CustomParser = r => r.Tokens.Single().Value.ToLowerInvariant() switch
        {
            "plain" => PromptSyntax.Plain,
            "a1111" => PromptSyntax.A1111,
            var other => Invalid<PromptSyntax?>(r, null, $"--prompt-syntax must be plain or a1111 (got '{other}')"),
        },
    };
    private static readonly Option<int?> PromptMaxWindows = new("--prompt-max-windows") { Description = "With --prompt-syntax a1111: the most 75-token windows a prompt may fill (default 3, 225 tokens); the rest is dropped", HelpName = "N" };
    private static readonly Option<string?> EmbeddingsOut = new("--embeddings-out") { Description = "Also write the conditioning the UNet receives as a float32 .npy file [rows, tokens, width], in its batch order (with guidance: the negative rows, then the prompt rows)", HelpName = "FILE.npy" };
    private static readonly Option<string?> LatentsOut = new("--latents-out") { Description = "Also write the final latents as a float32 .npy file [batch, channels, height, width]", HelpName = "FILE.npy" };
    private static readonly Option<string?> Out = new("--out") { Description = "Write a grid of all images to this PNG file", HelpName = "FILE.png" };
    private static readonly Option<string?> OutDir = new("--out-dir") { Description = "Write one PNG per image (000.png, 001.png, …) to this folder", HelpName = "DIR" };
    private static readonly Option<int?> Columns = new("--columns") { Description = "Images per grid row (default: one row per class with --label all)", HelpName = "N" };
    private static readonly Option<bool> Karras = new("--karras") { Description = "Karras et al. noise-level spacing (default: the model's use_karras_sigmas)" };
    private static readonly Option<bool> Threshold = new("--threshold") { Description = "Dynamic thresholding of the predicted image (default: the model's thresholding)" };
    private static readonly Option<double> Temperature = new("--temperature") { Description = "Divide the model output by T before each step", DefaultValueFactory = _ => 1.0, HelpName = "T" };
    private static readonly Option<double> NoiseInjection = new("--noise-injection") { Description = "Add X·N(0, I) to the model output before each step", HelpName = "X" };
    private static readonly Option<double?> Eta = new("--eta") { Description = "DDIM's η or TCD's γ, in [0, 1] (0 = deterministic; default: the model's, else DDIM 0, TCD 0.3)", HelpName = "E" };
    private static readonly Option<double?> Rtol = new("--rtol") { Description = "dpm-adaptive's relative tolerance of a step's error (default 0.05; smaller: more accurate, more model calls)", HelpName = "R" };
    private static readonly Option<double?> Atol = new("--atol") { Description = "dpm-adaptive's absolute tolerance of a step's error (default 0.0078)", HelpName = "A" };
    private static readonly Option<OnnxExecutionProvider> Device = new("--device")
    {
        Description = "cpu, cuda (needs the GPU build) or auto (cuda, else cpu)", DefaultValueFactory = _ => OnnxExecutionProvider.Cpu, HelpName = "cpu|cuda|auto",
        CustomParser = r => r.Tokens.Single().Value.ToLowerInvariant() switch
        {
            "cpu" => OnnxExecutionProvider.Cpu,
            "cuda" => OnnxExecutionProvider.Cuda,
            "auto" => OnnxExecutionProvider.Auto,
            var other => Invalid(r, OnnxExecutionProvider.Cpu, $"--device must be cpu, cuda or auto (got '{other}')"),
        },
    };
    private static readonly Option<int?> NumTrainTimesteps = new("--num-train-timesteps") { Description = "Training steps of a bare .onnx model without a scheduler config", HelpName = "N" };
    private static readonly Option<PredictionType?> Prediction = new("--prediction-type") { Description = "epsilon, sample or v_prediction, for a bare .onnx model", HelpName = "P", CustomParser = ParsePrediction };
    private static readonly Option<string?> SampleInput = new("--sample-input") { Description = "Name of the model's sample input, when it cannot be found by name or shape", HelpName = "NAME" };
    private static readonly Option<string?> TimestepInput = new("--timestep-input") { Description = "Name of the model's timestep input, when it cannot be found by name or shape", HelpName = "NAME" };
    private static readonly Option<string?> Plugins = new("--plugins") { Description = "Load sampler plugins from this folder", HelpName = "DIR" };
    private static readonly Option<string[]> SchedulerConfigOption = new("--scheduler-config") { Description = "Override one scheduler_config.json key for this run, e.g. prediction_type=v_prediction or timestep_spacing=trailing (JSON values as JSON, other text as a string); repeat for several. Read and checked as the model's own file; the other options are laid over it", HelpName = "KEY=VALUE", Arity = ArgumentArity.ZeroOrMore, AllowMultipleArgumentsPerToken = false };
    private static readonly Option<bool> ListSamplers = new("--list-samplers") { Description = "List the samplers the registry holds (plugins from --plugins included): name, the reference class it answers to, the scheduler_config.json keys it reads, where it came from; then exit" };
    private static readonly Option<bool> Statistics = new("--stats") { Description = "Print min, max, mean and std of the sample and model output at every step" };

    private static Option<PixelSize?> Size(string name, string description) => new(name)
    {
        Description = description, HelpName = "H,W",
        CustomParser = r => Pair(r, name, "H,W (height first, in pixels)") is [var h, var w] ? new PixelSize(h, w) : null,
    };

    private static Option<CropOffset?> Crop(string name, string description) => new(name)
    {
        Description = description, HelpName = "TOP,LEFT",
        CustomParser = r => Pair(r, name, "TOP,LEFT (pixels)") is [var t, var l] ? new CropOffset(t, l) : null,
    };

    // "H,W": two integers separated by a comma.
    private static int[]? Pair(System.CommandLine.Parsing.ArgumentResult result, string name, string form)
    {
        var text = result.Tokens.Single().Value;
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length == 2 && int.TryParse(parts[0], System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var a)
            && int.TryParse(parts[1], System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var b))
            return [a, b];
        return Invalid<int[]?>(result, null, $"{name} must be {form} (got '{text}')");
    }

    private static PredictionType? ParsePrediction(System.CommandLine.Parsing.ArgumentResult result)
    {
        try
        {
            return ConfigNames.ParsePredictionType(result.Tokens.Single().Value, "--prediction-type");
        }
        catch (Diffusion.Sdk.Abstractions.SchedulerConfigException e)
        {
            return Invalid<PredictionType?>(result, null, $"--prediction-type must be {e.Allowed} (got '{result.Tokens.Single().Value}')");
        }
    }

    private static T Invalid<T>(System.CommandLine.Parsing.ArgumentResult result, T placeholder, string message)
    {
        result.AddError(message);
        return placeholder;
    }

    /// <summary>Parses and runs; a parse error is one clear line on stderr and exit code 2, with nothing written.</summary>
    public static async Task<int> InvokeAsync(string[] args)
    {
        var parsed = Create().Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // An option missing its value also makes the next value "unrecognized": the option's own error says more.
            var error = parsed.Errors.FirstOrDefault(e => !e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parsed.Errors[0];
            var message = string.Join(" ", error.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            Console.Error.WriteLine($"error: {message} (see --help)");
            return ExitCodes.BadArguments;
        }
        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("error: cancelled; nothing was written");
            return ExitCodes.Cancelled;
        }
        catch (Exception e)
        {
            // Nothing reaches the user as a stack trace: one line with the failure's type and message.
            var message = string.Join(" ", e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            Console.Error.WriteLine($"error: unexpected {e.GetType().Name}: {message}");
            return ExitCodes.Failed;
        }
    }

    public static RootCommand Create()
    {
        var root = new RootCommand("Generate images with a diffusion model and any sampler. Examples: generate --out digits.png; generate --model sd15 --prompt \"a lighthouse at dusk\" --out lighthouse.png");
        foreach (var option in new Option[] { Model, Prompt, NegativePrompt, Prompt2, NegativePrompt2, OriginalSize, CropsCoords, TargetSize, NegativeOriginalSize,
                     NegativeCropsCoords, NegativeTargetSize, AestheticScore, NegativeAestheticScore, ClipSkip, Refiner, HighNoiseFraction, Vae, Spacing, StepSpacingOption, Width, Height, InitImage, Mask, Strength, Lora, Sampler, Ensemble, Steps, OriginalInferenceSteps, Guidance, CfgPlusPlus, GuidanceRescale, Label, Seed, Batch,
                     PromptSyntaxOption, PromptMaxWindows, Out, OutDir, LatentsOut, EmbeddingsOut, Columns, Karras, Threshold, Temperature, NoiseInjection, Eta, Rtol, Atol, Device, NumTrainTimesteps, Prediction, SampleInput, TimestepInput,
                     SchedulerConfigOption, Plugins, ListSamplers, Statistics })
            root.Options.Add(option);
        root.SetAction((result, cancellationToken) => Runner.RunAsync(Read(result), cancellationToken));
        return root;
    }

    // Null when no micro-conditioning option was given (the reference's defaults).
    private static MicroConditioning? ReadMicroConditioning(ParseResult r)
    {
        var any = new Option[] { OriginalSize, CropsCoords, TargetSize, NegativeOriginalSize, NegativeCropsCoords, NegativeTargetSize, AestheticScore, NegativeAestheticScore }
            .Any(o => r.GetResult(o) is { Implicit: false });
        if (!any) return null;
        var defaults = new MicroConditioning();
        return new MicroConditioning
        {
            OriginalSize = r.GetValue(OriginalSize),
            CropsCoordsTopLeft = r.GetValue(CropsCoords),
            TargetSize = r.GetValue(TargetSize),
            NegativeOriginalSize = r.GetValue(NegativeOriginalSize),
            NegativeCropsCoordsTopLeft = r.GetValue(NegativeCropsCoords),
            NegativeTargetSize = r.GetValue(NegativeTargetSize),
            AestheticScore = r.GetValue(AestheticScore) ?? defaults.AestheticScore,
            NegativeAestheticScore = r.GetValue(NegativeAestheticScore) ?? defaults.NegativeAestheticScore,
        };
    }

    private static GenerateSettings Read(ParseResult r) => new()
    {
        ModelPath = r.GetValue(Model)!,
        Sampler = r.GetValue(Sampler),
        Ensemble = r.GetValue(Ensemble),
        Steps = r.GetValue(Steps),
        OriginalInferenceSteps = r.GetValue(OriginalInferenceSteps),
        Guidance = r.GetValue(Guidance),
        GuidanceRescale = r.GetValue(GuidanceRescale),
        CfgPlusPlus = r.GetValue(CfgPlusPlus),
        Label = r.GetValue(Label)!,
        Seed = r.GetValue(Seed),
        Batch = r.GetValue(Batch),
        Prompts = r.GetValue(Prompt) ?? [],
        NegativePrompts = r.GetValue(NegativePrompt) ?? [],
        Prompts2 = r.GetValue(Prompt2) ?? [],
        NegativePrompts2 = r.GetValue(NegativePrompt2) ?? [],
        MicroConditioning = ReadMicroConditioning(r),
        ClipSkip = r.GetValue(ClipSkip),
        Refiner = r.GetValue(Refiner),
        HighNoiseFraction = r.GetValue(HighNoiseFraction) ?? 0.8,
        HighNoiseFractionGiven = r.GetValue(HighNoiseFraction) is not null,
        Vae = r.GetValue(Vae),
        TimestepSpacing = r.GetValue(Spacing),
        Spacing = r.GetValue(StepSpacingOption),
        Width = r.GetValue(Width),
        Height = r.GetValue(Height),
        InitImage = r.GetValue(InitImage),
        Mask = r.GetValue(Mask),
        Strength = r.GetResult(Strength) is { Implicit: false } || r.GetValue(Mask) is null ? r.GetValue(Strength) : 1.0,
        LatentsOut = r.GetValue(LatentsOut),
        Loras = r.GetValue(Lora) ?? [],
        EmbeddingsOut = r.GetValue(EmbeddingsOut),
        PromptSyntax = r.GetValue(PromptSyntaxOption),
        PromptMaxWindows = r.GetValue(PromptMaxWindows),
        Out = r.GetValue(Out),
        OutDir = r.GetValue(OutDir),
        Columns = r.GetValue(Columns),
        Karras = r.GetValue(Karras),
        Threshold = r.GetValue(Threshold),
        Temperature = r.GetValue(Temperature),
        NoiseInjection = r.GetValue(NoiseInjection),
        Eta = r.GetValue(Eta),
        Rtol = r.GetValue(Rtol),
        Atol = r.GetValue(Atol),
        StepsGiven = r.GetResult(Steps) is { Implicit: false },
        StrengthGiven = r.GetResult(Strength) is { Implicit: false },
        LabelGiven = r.GetResult(Label) is { Implicit: false },
        Device = r.GetValue(Device),
        NumTrainTimesteps = r.GetValue(NumTrainTimesteps),
        PredictionType = r.GetValue(Prediction),
        SampleInput = r.GetValue(SampleInput),
        TimestepInput = r.GetValue(TimestepInput),
        PluginsDirectory = r.GetValue(Plugins),
        ListSamplers = r.GetValue(ListSamplers),
        SchedulerConfig = r.GetValue(SchedulerConfigOption) ?? [],
        Statistics = r.GetValue(Statistics),
    };
}
