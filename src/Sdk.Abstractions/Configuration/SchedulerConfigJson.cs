using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// Reads and writes <c>scheduler_config.json</c> files. Values are checked as they are read; every problem is a
/// <see cref="SchedulerConfigException"/> naming the key. Unknown keys are kept in
/// <see cref="SchedulerConfig.AdditionalKeys"/> and reported with a logged warning, so configurations written by
/// newer exporters still load.
/// </summary>
public static class SchedulerConfigJson
{
    private delegate void Reader(SchedulerConfig config, JsonElement value, string key, string? source);
    private delegate void Writer(SchedulerConfig config, Utf8JsonWriter json);

    private sealed record Key(string Name, Reader Read, Writer Write);

    // One row per key the SDK understands: how it is read and (when it holds a value) written.
    private static readonly Key[] Keys =
    [
        new("_class_name", (c, v, k, s) => c.ClassName = Str(v, k, s), (c, w) => { if (c.ClassName is { } x) w.WriteString("_class_name", x); }),
        new("num_train_timesteps", (c, v, k, s) => c.NumTrainTimesteps = Int(v, k, s), (c, w) => w.WriteNumber("num_train_timesteps", c.NumTrainTimesteps)),
        // A β key left to defaults is not written, so that reading the text back leaves it to the sampler's class again.
        new("beta_start", (c, v, k, s) => c.BetaStart = Num(v, k, s), (c, w) => { if (c.BetasGiven.Start) w.WriteNumber("beta_start", c.BetaStart); }),
        new("beta_end", (c, v, k, s) => c.BetaEnd = Num(v, k, s), (c, w) => { if (c.BetasGiven.End) w.WriteNumber("beta_end", c.BetaEnd); }),
        new("beta_schedule", (c, v, k, s) => c.BetaSchedule = ConfigNames.ParseBetaSchedule(Str(v, k, s), k, s), (c, w) => { if (c.BetasGiven.Schedule) w.WriteString("beta_schedule", ConfigNames.Of(c.BetaSchedule)); }),
        new("trained_betas", (c, v, k, s) => c.TrainedBetas = NumArray(v, k, s), (c, w) => { if (c.TrainedBetas is { } b) { w.WriteStartArray("trained_betas"); foreach (var x in b) w.WriteNumberValue(x); w.WriteEndArray(); } }),
        new("prediction_type", (c, v, k, s) => c.PredictionType = ConfigNames.ParsePredictionType(Str(v, k, s), k, s), (c, w) => w.WriteString("prediction_type", ConfigNames.Of(c.PredictionType))),
        new("timestep_spacing", (c, v, k, s) => c.TimestepSpacing = ConfigNames.ParseTimestepSpacing(Str(v, k, s), k, s), (c, w) => { if (c.TimestepSpacing is { } x) w.WriteString("timestep_spacing", ConfigNames.Of(x)); }),
        new("steps_offset", (c, v, k, s) => c.StepsOffset = Int(v, k, s), (c, w) => w.WriteNumber("steps_offset", c.StepsOffset)),
        new("rescale_betas_zero_snr", (c, v, k, s) => c.RescaleBetasZeroSnr = Bool(v, k, s), (c, w) => w.WriteBoolean("rescale_betas_zero_snr", c.RescaleBetasZeroSnr)),
        new("variance_type", (c, v, k, s) => c.VarianceType = ConfigNames.ParseVarianceType(Str(v, k, s), k, s), (c, w) => { if (c.VarianceType is { } x) w.WriteString("variance_type", ConfigNames.Of(x)); }),
        new("clip_sample", (c, v, k, s) => c.ClipSample = Bool(v, k, s), (c, w) => { if (c.ClipSample is { } x) w.WriteBoolean("clip_sample", x); }),
        new("clip_sample_range", (c, v, k, s) => c.ClipSampleRange = Num(v, k, s), (c, w) => w.WriteNumber("clip_sample_range", c.ClipSampleRange)),
        new("thresholding", (c, v, k, s) => c.Thresholding = Bool(v, k, s), (c, w) => w.WriteBoolean("thresholding", c.Thresholding)),
        new("dynamic_thresholding_ratio", (c, v, k, s) => c.DynamicThresholdingRatio = Num(v, k, s), (c, w) => w.WriteNumber("dynamic_thresholding_ratio", c.DynamicThresholdingRatio)),
        new("sample_max_value", (c, v, k, s) => c.SampleMaxValue = Num(v, k, s), (c, w) => w.WriteNumber("sample_max_value", c.SampleMaxValue)),
        new("set_alpha_to_one", (c, v, k, s) => c.SetAlphaToOne = Bool(v, k, s), (c, w) => { if (c.SetAlphaToOne is { } x) w.WriteBoolean("set_alpha_to_one", x); }),
        new("eta", (c, v, k, s) => c.Eta = Num(v, k, s), (c, w) => { if (c.Eta is { } x) w.WriteNumber("eta", x); }),
        new("solver_order", (c, v, k, s) => c.SolverOrder = Int(v, k, s), (c, w) => { if (c.SolverOrder is { } x) w.WriteNumber("solver_order", x); }),
        new("algorithm_type", (c, v, k, s) => c.AlgorithmType = Str(v, k, s), (c, w) => { if (c.AlgorithmType is { } x) w.WriteString("algorithm_type", x); }),
        new("solver_type", (c, v, k, s) => c.SolverType = Str(v, k, s), (c, w) => { if (c.SolverType is { } x) w.WriteString("solver_type", x); }),
        new("lower_order_final", (c, v, k, s) => c.LowerOrderFinal = Bool(v, k, s), (c, w) => { if (c.LowerOrderFinal is { } x) w.WriteBoolean("lower_order_final", x); }),
        new("euler_at_final", (c, v, k, s) => c.EulerAtFinal = Bool(v, k, s), (c, w) => { if (c.EulerAtFinal is { } x) w.WriteBoolean("euler_at_final", x); }),
        new("use_karras_sigmas", (c, v, k, s) => c.UseKarrasSigmas = Bool(v, k, s), (c, w) => { if (c.UseKarrasSigmas is { } x) w.WriteBoolean("use_karras_sigmas", x); }),
        new("use_exponential_sigmas", (c, v, k, s) => c.UseExponentialSigmas = Bool(v, k, s), (c, w) => { if (c.UseExponentialSigmas is { } x) w.WriteBoolean("use_exponential_sigmas", x); }),
        new("use_beta_sigmas", (c, v, k, s) => c.UseBetaSigmas = Bool(v, k, s), (c, w) => { if (c.UseBetaSigmas is { } x) w.WriteBoolean("use_beta_sigmas", x); }),
        new("use_lu_lambdas", (c, v, k, s) => c.UseLuLambdas = Bool(v, k, s), (c, w) => { if (c.UseLuLambdas is { } x) w.WriteBoolean("use_lu_lambdas", x); }),
        new("predict_x0", (c, v, k, s) => c.PredictX0 = Bool(v, k, s), (c, w) => { if (c.PredictX0 is { } x) w.WriteBoolean("predict_x0", x); }),
        new("disable_corrector", (c, v, k, s) => c.DisableCorrector = IntArray(v, k, s), (c, w) => { if (c.DisableCorrector is { } d) { w.WriteStartArray("disable_corrector"); foreach (var x in d) w.WriteNumberValue(x); w.WriteEndArray(); } }),
        new("original_inference_steps", (c, v, k, s) => c.OriginalInferenceSteps = Int(v, k, s), (c, w) => { if (c.OriginalInferenceSteps is { } x) w.WriteNumber("original_inference_steps", x); }),
        new("timestep_scaling", (c, v, k, s) => c.TimestepScaling = Num(v, k, s), (c, w) => { if (c.TimestepScaling is { } x) w.WriteNumber("timestep_scaling", x); }),
        new("final_sigmas_type", (c, v, k, s) => c.FinalSigmasType = Str(v, k, s), (c, w) => { if (c.FinalSigmasType is { } x) w.WriteString("final_sigmas_type", x); }),
        new("lambda_min_clipped", (c, v, k, s) => c.LambdaMinClipped = NumOrInf(v, k, s), (c, w) => { if (c.LambdaMinClipped is { } x) WriteNumberOrNamed(w, "lambda_min_clipped", x); }),
        new("interpolation_type", (c, v, k, s) => c.InterpolationType = Str(v, k, s), (c, w) => { if (c.InterpolationType is { } x) w.WriteString("interpolation_type", x); }),
        new("timestep_type", (c, v, k, s) => c.TimestepType = Str(v, k, s), (c, w) => { if (c.TimestepType is { } x) w.WriteString("timestep_type", x); }),
        new("skip_prk_steps", (c, v, k, s) => c.SkipPrkSteps = Bool(v, k, s), (c, w) => { if (c.SkipPrkSteps is { } x) w.WriteBoolean("skip_prk_steps", x); }),
        new("sigma_min", (c, v, k, s) => c.SigmaMin = Num(v, k, s), (c, w) => { if (c.SigmaMin is { } x) w.WriteNumber("sigma_min", x); }),
        new("sigma_max", (c, v, k, s) => c.SigmaMax = Num(v, k, s), (c, w) => { if (c.SigmaMax is { } x) w.WriteNumber("sigma_max", x); }),
        // Flow matching, EDM, SA-Solver, DPM-Solver SDE, and the reference's per-step churn arguments.
        new("shift", (c, v, k, s) => c.Shift = Num(v, k, s), (c, w) => { if (c.Shift is { } x) w.WriteNumber("shift", x); }),
        new("use_flow_sigmas", (c, v, k, s) => c.UseFlowSigmas = Bool(v, k, s), (c, w) => { if (c.UseFlowSigmas is { } x) w.WriteBoolean("use_flow_sigmas", x); }),
        new("flow_shift", (c, v, k, s) => c.FlowShift = Num(v, k, s), (c, w) => { if (c.FlowShift is { } x) w.WriteNumber("flow_shift", x); }),
        new("use_dynamic_shifting", (c, v, k, s) => c.UseDynamicShifting = Bool(v, k, s), (c, w) => { if (c.UseDynamicShifting is { } x) w.WriteBoolean("use_dynamic_shifting", x); }),
        new("time_shift_type", (c, v, k, s) => c.TimeShiftType = Str(v, k, s), (c, w) => { if (c.TimeShiftType is { } x) w.WriteString("time_shift_type", x); }),
        new("shift_terminal", (c, v, k, s) => c.ShiftTerminal = Num(v, k, s), (c, w) => { if (c.ShiftTerminal is { } x) w.WriteNumber("shift_terminal", x); }),
        new("invert_sigmas", (c, v, k, s) => c.InvertSigmas = Bool(v, k, s), (c, w) => { if (c.InvertSigmas is { } x) w.WriteBoolean("invert_sigmas", x); }),
        new("stochastic_sampling", (c, v, k, s) => c.StochasticSampling = Bool(v, k, s), (c, w) => { if (c.StochasticSampling is { } x) w.WriteBoolean("stochastic_sampling", x); }),
        new("base_shift", (c, v, k, s) => c.BaseShift = Num(v, k, s), (c, w) => { if (c.BaseShift is { } x) w.WriteNumber("base_shift", x); }),
        new("max_shift", (c, v, k, s) => c.MaxShift = Num(v, k, s), (c, w) => { if (c.MaxShift is { } x) w.WriteNumber("max_shift", x); }),
        new("base_image_seq_len", (c, v, k, s) => c.BaseImageSeqLen = Int(v, k, s), (c, w) => { if (c.BaseImageSeqLen is { } x) w.WriteNumber("base_image_seq_len", x); }),
        new("max_image_seq_len", (c, v, k, s) => c.MaxImageSeqLen = Int(v, k, s), (c, w) => { if (c.MaxImageSeqLen is { } x) w.WriteNumber("max_image_seq_len", x); }),
        new("sigma_data", (c, v, k, s) => c.SigmaData = Num(v, k, s), (c, w) => { if (c.SigmaData is { } x) w.WriteNumber("sigma_data", x); }),
        new("sigma_schedule", (c, v, k, s) => c.SigmaSchedule = Str(v, k, s), (c, w) => { if (c.SigmaSchedule is { } x) w.WriteString("sigma_schedule", x); }),
        new("rho", (c, v, k, s) => c.Rho = Num(v, k, s), (c, w) => { if (c.Rho is { } x) w.WriteNumber("rho", x); }),
        new("predictor_order", (c, v, k, s) => c.PredictorOrder = Int(v, k, s), (c, w) => { if (c.PredictorOrder is { } x) w.WriteNumber("predictor_order", x); }),
        new("corrector_order", (c, v, k, s) => c.CorrectorOrder = Int(v, k, s), (c, w) => { if (c.CorrectorOrder is { } x) w.WriteNumber("corrector_order", x); }),
        new("noise_sampler_seed", (c, v, k, s) => c.NoiseSamplerSeed = Long(v, k, s), (c, w) => { if (c.NoiseSamplerSeed is { } x) w.WriteNumber("noise_sampler_seed", x); }),
        new("s_churn", (c, v, k, s) => c.SChurn = Num(v, k, s), (c, w) => { if (c.SChurn is { } x) w.WriteNumber("s_churn", x); }),
        new("s_tmin", (c, v, k, s) => c.STmin = Num(v, k, s), (c, w) => { if (c.STmin is { } x) w.WriteNumber("s_tmin", x); }),
        new("s_tmax", (c, v, k, s) => c.STmax = NumOrInf(v, k, s), (c, w) => { if (c.STmax is { } x) WriteNumberOrNamed(w, "s_tmax", x); }),
        new("s_noise", (c, v, k, s) => c.SNoise = Num(v, k, s), (c, w) => { if (c.SNoise is { } x) w.WriteNumber("s_noise", x); }),
    ];

    private static readonly Dictionary<string, Key> ByName = Keys.ToDictionary(k => k.Name, StringComparer.Ordinal);

    // Keys the reference writes that this SDK does not implement. At their default value they change nothing and
    // are kept silently; any other value is kept too, but the user is warned that it is ignored.
    private static readonly Dictionary<string, string> KnownInactiveDefaults = new(StringComparer.Ordinal)
    {
        ["use_lu_lambdas"] = "false",
        ["timestep_type"] = "\"discrete\"", ["variance_type"] = "null", ["trained_betas"] = "null",
    };

    /// <summary>The largest configuration file read (diffusers writes about 1 KiB; a trained_betas table of 10,000 entries is some 200 KiB).</summary>
    public const long MaxFileBytes = 16L << 20;

    /// <summary>Reads a configuration file.</summary>
    /// <exception cref="SchedulerConfigException">The file is missing, is not valid JSON, or holds an invalid value.</exception>
    public static SchedulerConfig Load(string path, ILogger? logger = null)
    {
        var text = BoundedFile.ReadAllText(path, MaxFileBytes,
            problem => new SchedulerConfigException("(file)", path, $"a readable scheduler_config.json file of at most {MaxFileBytes >> 20} MiB ({problem})", path));
        return Parse(text, logger, path);
    }

    /// <summary>Parses configuration JSON text.</summary>
    /// <param name="json">The JSON object text.</param>
    /// <param name="logger">Receives a warning for every key that is kept but not interpreted.</param>
    /// <param name="source">Where the text came from, quoted in errors.</param>
    /// <exception cref="SchedulerConfigException">Malformed JSON or an invalid value.</exception>
    public static SchedulerConfig Parse(string json, ILogger? logger = null, string? source = null)
    {
        logger ??= NullLogger.Instance;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(QuoteNonFiniteLiterals(json), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new SchedulerConfigException("(json)", $"malformed at line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}",
                "a JSON object of scheduler settings", source, e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new SchedulerConfigException("(json)", document.RootElement.ValueKind.ToString(), "a JSON object of scheduler settings", source);
            JsonText.EnsureValid(document.RootElement, problem => new SchedulerConfigException("(json)", problem, "text in every name and string", source));

            var config = new SchedulerConfig();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                var name = property.Name;
                if (ByName.TryGetValue(name, out var key))
                {
                    // null means "not given" in the reference's files: the default applies.
                    if (property.Value.ValueKind != JsonValueKind.Null) key.Read(config, property.Value, name, source);
                    continue;
                }

                config.AdditionalKeys[name] = property.Value.Clone();
                if (name.StartsWith('_')) continue; // metadata such as _diffusers_version
                var raw = property.Value.GetRawText();
                if (KnownInactiveDefaults.TryGetValue(name, out var inactive) && raw == inactive) continue;
                logger.LogWarning("Scheduler configuration{Source}: key '{Key}' = {Value} is not used by this SDK and is ignored.",
                    source is null ? "" : $" '{source}'", name, raw);
            }
            config.Validate(source);
            return config;
        }
    }

    /// <summary>
    /// A copy of <paramref name="config"/> with keys replaced as if its file had said so: the configuration is written
    /// as JSON, each key set to its value, and the result read back through <see cref="Parse"/>, so an override meets
    /// the same reader and checks as the file's keys. A value is taken as JSON when it parses as a JSON value, and as a
    /// string otherwise (<c>trailing</c>, <c>v_prediction</c>).
    /// </summary>
    /// <param name="config">The configuration to start from; it is not changed.</param>
    /// <param name="overrides">snake_case keys and their values.</param>
    /// <param name="source">Where the overrides came from, quoted in errors.</param>
    /// <param name="logger">Receives a warning for every key that is kept but not interpreted.</param>
    /// <exception cref="SchedulerConfigException">A value is invalid for its key.</exception>
    public static SchedulerConfig WithOverrides(SchedulerConfig config, IEnumerable<KeyValuePair<string, string>> overrides, string source, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(overrides);
        var root = System.Text.Json.Nodes.JsonNode.Parse(Serialize(config))!.AsObject();
        foreach (var (key, text) in overrides) root[key] = OverrideValue(key, text ?? "null", source);
        return Parse(root.ToJsonString(), logger, source);
    }

    // "3", "true", "[1, 2]" are JSON; "trailing" is not, so it is the string "trailing". A value that starts like a
    // JSON string ('"…') must be one: the caller quoted it on purpose.
    private static System.Text.Json.Nodes.JsonNode? OverrideValue(string key, string text, string source)
    {
        try
        {
            return System.Text.Json.Nodes.JsonNode.Parse(QuoteNonFiniteLiterals(text));
        }
        catch (JsonException) when (!text.TrimStart().StartsWith('"'))
        {
            return System.Text.Json.Nodes.JsonValue.Create(text);
        }
        catch (JsonException e)
        {
            throw new SchedulerConfigException(key, text, "a JSON value, or a bare word taken as a string (e.g. trailing)", source, e);
        }
    }

    /// <summary>Writes the configuration as indented JSON, additional keys included.</summary>
    public static string Serialize(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            foreach (var key in Keys) key.Write(config, writer);
            foreach (var (name, value) in config.AdditionalKeys)
            {
                if (ByName.ContainsKey(name)) continue;
                writer.WritePropertyName(name);
                value.WriteTo(writer);
            }
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Writes the configuration to <paramref name="path"/> atomically (a temporary file, then a rename).</summary>
    public static void Save(SchedulerConfig config, string path)
    {
        var text = Serialize(config);
        var temp = path + ".tmp";
        try
        {
            File.WriteAllText(temp, text, new UTF8Encoding(false));
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>
    /// Python's json module writes the non-finite floats as bare <c>NaN</c>, <c>Infinity</c> and <c>-Infinity</c>
    /// (e.g. DPM-Solver's <c>lambda_min_clipped</c>), which are not JSON. Outside strings they are rewritten as the
    /// strings <c>"NaN"</c>, <c>"Infinity"</c>, <c>"-Infinity"</c>, which the number readers accept where a key allows them.
    /// Any other JSON reader of the reference's config files can use it too.
    /// </summary>
    public static string QuoteNonFiniteLiterals(string json)
    {
        if (!json.Contains("NaN", StringComparison.Ordinal) && !json.Contains("Infinity", StringComparison.Ordinal)) return json;
        var result = new StringBuilder(json.Length + 16);
        var inString = false;
        for (var i = 0; i < json.Length; i++)
        {
            var c = json[i];
            if (inString)
            {
                result.Append(c);
                if (c == '\\' && i + 1 < json.Length) result.Append(json[++i]);
                else if (c == '"') inString = false;
                continue;
            }
            if (c == '"')
            {
                inString = true;
                result.Append(c);
                continue;
            }
            var literal = Literal(json, i);
            if (literal is not null)
            {
                result.Append('"').Append(literal).Append('"');
                i += literal.Length - 1;
                continue;
            }
            result.Append(c);
        }
        return result.ToString();

        static string? Literal(string text, int at)
        {
            foreach (var word in (ReadOnlySpan<string>)["-Infinity", "Infinity", "NaN"])
            {
                if (string.CompareOrdinal(text, at, word, 0, word.Length) != 0) continue;
                var end = at + word.Length;
                if (end < text.Length && char.IsLetterOrDigit(text[end])) continue;
                return word;
            }
            return null;
        }
    }

    // JSON has no -Infinity: a non-finite value is written as the string the readers accept, so a round trip keeps it.
    private static void WriteNumberOrNamed(Utf8JsonWriter json, string key, double value)
    {
        if (double.IsFinite(value)) json.WriteNumber(key, value);
        else json.WriteString(key, double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
    }

    private static string Str(JsonElement v, string key, string? source) =>
        v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new SchedulerConfigException(key, v.GetRawText(), "a string", source);

    private static bool Bool(JsonElement v, string key, string? source) => v.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw new SchedulerConfigException(key, v.GetRawText(), "true or false", source),
    };

    private static int Int(JsonElement v, string key, string? source)
    {
        if (v.ValueKind == JsonValueKind.Number)
        {
            if (v.TryGetInt32(out var i)) return i;
            // Python writes 1000.0 for some integer settings; accept integral values.
            if (v.TryGetDouble(out var d) && double.IsFinite(d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue) return (int)d;
        }
        throw new SchedulerConfigException(key, v.GetRawText(), "an integer", source);
    }

    private static long Long(JsonElement v, string key, string? source) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var l) ? l : throw new SchedulerConfigException(key, v.GetRawText(), "an integer", source);

    private static double Num(JsonElement v, string key, string? source)
    {
        var d = NumOrInf(v, key, source);
        return double.IsFinite(d) ? d : throw new SchedulerConfigException(key, v.GetRawText(), "a finite number", source);
    }

    // Accepts the strings "NaN"/"Infinity"/"-Infinity" so that the caller can reject them by name, and so that
    // lambda_min_clipped = -inf (a legitimate reference value meaning "no clipping") can be read.
    private static double NumOrInf(JsonElement v, string key, string? source)
    {
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d)) return d;
        if (v.ValueKind == JsonValueKind.String &&
            double.TryParse(v.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) && !double.IsFinite(parsed))
            return parsed;
        throw new SchedulerConfigException(key, v.GetRawText(), "a number", source);
    }

    private static double[] NumArray(JsonElement v, string key, string? source)
    {
        if (v.ValueKind != JsonValueKind.Array) throw new SchedulerConfigException(key, Abbreviate(v.GetRawText()), "an array of numbers", source);
        var result = new double[v.GetArrayLength()];
        var i = 0;
        foreach (var item in v.EnumerateArray())
        {
            result[i] = Num(item, $"{key}[{i}]", source);
            i++;
        }
        return result;
    }

    private static int[] IntArray(JsonElement v, string key, string? source)
    {
        if (v.ValueKind != JsonValueKind.Array) throw new SchedulerConfigException(key, Abbreviate(v.GetRawText()), "an array of integers", source);
        var result = new int[v.GetArrayLength()];
        var i = 0;
        foreach (var item in v.EnumerateArray())
        {
            result[i] = Int(item, $"{key}[{i}]", source);
            i++;
        }
        return result;
    }

    private static string Abbreviate(string text) => text.Length <= 60 ? text : text[..57] + "...";
}
