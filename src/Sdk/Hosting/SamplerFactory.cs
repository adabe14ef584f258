using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Diffusion.Sdk;

/// <summary>The host's <see cref="ISamplerFactory"/>: a name → registration table built once from DI.</summary>
internal sealed class SamplerFactory : ISamplerFactory
{
    private readonly Dictionary<string, SamplerRegistration> _byName = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, SamplerRegistration> _byClassName = new(StringComparer.Ordinal);
    private readonly WrapperRegistration[] _wrappers;
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;

    public SamplerFactory(IEnumerable<SamplerRegistration> registrations, IEnumerable<WrapperRegistration> wrappers, IServiceProvider services,
        PluginLoadReport plugins, ILogger<SamplerFactory>? logger = null)
    {
        _services = services;
        _wrappers = BuiltInWrappers.Concat(wrappers).OrderBy(w => w.Order).ToArray();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        // A plugin must never take over (or, by a clash, disable) a sampler the host registers itself: a plugin that
        // claims a host sampler's name, compared case-insensitively, is refused whole and listed in the report. The
        // loader refuses the built-in names already; this also covers host samplers registered after the plugins.
        var all = registrations.ToArray();
        var pluginFiles = plugins.Loaded.Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        var hostNames = all.Where(r => !pluginFiles.Contains(r.Source)).ToLookup(r => r.Name, StringComparer.OrdinalIgnoreCase);
        foreach (var clash in all.Where(r => pluginFiles.Contains(r.Source) && hostNames.Contains(r.Name)))
            plugins.Refuse(clash.Source, PluginLoader.NameClash(clash.Name, hostNames[clash.Name].First().Source));
        var refused = plugins.Failures.Select(f => Path.GetFileName(f.File)).ToHashSet(StringComparer.Ordinal);
        foreach (var registration in all.Where(r => !(pluginFiles.Contains(r.Source) && refused.Contains(r.Source))))
        {
            if (_byName.TryGetValue(registration.Name, out var existing))
            {
                // The same assembly registering twice (AddDdimSampler() called twice) is harmless; two sources are not.
                if (existing.Source == registration.Source) continue;
                throw new DiffusionException(
                    $"Two samplers are registered as '{registration.Name}': one from {existing.Source}, one from {registration.Source}. " +
                    "Remove one of them, or rename the plugin's sampler.");
            }
            _byName[registration.Name] = registration;
            if (registration.ClassName is { } className) _byClassName.TryAdd(className, registration);
        }
        Names = _byName.Keys.Order(StringComparer.Ordinal).ToArray();
        foreach (var failure in plugins.Failures)
            _logger.LogError("Sampler plugin '{File}' was not loaded: {Reason}", failure.File, failure.Reason);
    }

    public IReadOnlyList<string> Names { get; }

    public ISampler Create(string name, SchedulerConfig? config = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!_byName.TryGetValue(name, out var registration)) throw new UnknownSamplerException(name, Names);
        return Build(registration, config ?? new SchedulerConfig());
    }

    // A registration's factory is third-party code for a plugin: its failure becomes one error naming it.
    private ISampler Build(SamplerRegistration registration, SchedulerConfig config)
    {
        try
        {
            return registration.Create(config, _services) ?? throw new InvalidOperationException("the factory returned null");
        }
        catch (Exception e) when (SamplerFailedException.IsForeign(e) && e is not SamplingOptionException)
        {
            throw new SamplerFailedException(registration.Name, registration.Source, "being created", e);
        }
    }

    public ISampler Create(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var className = config.ClassName
            ?? throw new SchedulerConfigException("_class_name", null, "the reference class name of the sampler, e.g. \"DDIMScheduler\" (or pass a sampler name)");
        if (_byClassName.TryGetValue(className, out var registration)) return Build(registration, config);
        throw new SchedulerConfigException("_class_name", ConfigNames.Quote(className), ConfigNames.OneOf(_byClassName.Keys.Order(StringComparer.Ordinal)));
    }

    // The noise schedule's keys, which every sampler reads (SamplerRegistration.ConfigKeys lists only the others).
    private static readonly HashSet<string> ScheduleKeys = new(StringComparer.Ordinal)
    {
        "_class_name", "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "prediction_type",
        "timestep_spacing", "steps_offset", "rescale_betas_zero_snr",
    };

    public ISampler Create(SamplingOptions options, SchedulerConfig? modelConfig = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var config = options.ApplyTo(modelConfig);
        var registration = Resolve(options.Sampler, config, warn: true);

        // Karras spacing and thresholding: the sampler's own implementation where it has one (as the reference
        // does), else the wrapper around it, never both.
        // A published step schedule replaces the spacing the model's file chose (its σ options included): the
        // request's own Karras spacing with it is refused by the options' validation.
        var aysModel = options.Spacing is null ? (AlignYourStepsModel?)null : options.AlignYourStepsModel
            ?? throw new SamplingOptionException(nameof(SamplingOptions.AlignYourStepsModel), null,
                $"StableDiffusion, StableDiffusionXL or StableVideoDiffusion with {nameof(SamplingOptions.Spacing)} = {options.Spacing}: the model family whose " +
                "published schedule to use (the Stable Diffusion pipeline fills it in from the model; a scheduler configuration cannot tell the families apart)");
        if (aysModel is not null) (config.UseKarrasSigmas, config.UseExponentialSigmas, config.UseBetaSigmas, config.UseLuLambdas) = (null, null, null, null);
        var karras = config.UseKarrasSigmas == true && !registration.Reads("use_karras_sigmas");
        var thresholding = config.Thresholding && !registration.Reads("thresholding");
        if (karras) config.UseKarrasSigmas = null;
        if (thresholding) config.Thresholding = false;
        foreach (var (key, option) in options.OverriddenKeys())
        {
            if (registration.Reads(key) || ScheduleKeys.Contains(key) || key is "use_karras_sigmas" or "thresholding") continue;
            if (key is "dynamic_thresholding_ratio" or "sample_max_value" && (thresholding || registration.Reads("thresholding"))) continue;
            _logger.LogWarning("The option {Option} ({Key}) has no effect: the '{Sampler}' sampler does not use it.", option, key, registration.Name);
        }

        var sampler = Build(registration, config);
        if (karras && sampler is not ISigmaSampler && sampler is SamplerBase { AcceptsExplicitTimesteps: false })
        {
            var allowed = $"false: the '{registration.Name}' sampler cannot run on Karras-spaced noise levels (it takes neither explicit sigmas nor explicit timesteps)";
            throw options.UseKarrasSigmas == true
                ? new SamplingOptionException(nameof(SamplingOptions.UseKarrasSigmas), "true", allowed)
                : new SchedulerConfigException("use_karras_sigmas", "true", allowed);
        }
        var chain = _wrappers.AsEnumerable();
        if (karras) chain = chain.Append(new("karras-sigmas", BuiltInWrapperOrder.KarrasSigmas, (s, _, _) => new KarrasSigmasWrapper(s)));
        if (thresholding)
            chain = chain.Append(new("thresholding", BuiltInWrapperOrder.Thresholding,
                (s, _, _) => new ThresholdingWrapper(s, ThresholdingMode.Dynamic, config.DynamicThresholdingRatio, config.SampleMaxValue)));
        if (sampler is IAdaptiveSampler) return RefuseWrappers(sampler, chain, options, karras || aysModel is not null, thresholding);
        // Built before the other wrappers, so that a sampler that cannot take the list is refused before any work.
        if (aysModel is { } model) sampler = new AlignYourStepsWrapper(sampler, model, options.Spacing!.Value);
        foreach (var wrapper in chain.OrderBy(w => w.Order)) sampler = wrapper.Wrap(sampler, options, _services);
        return sampler;
    }

    // The wrappers adjust a fixed-schedule step (its σ table, its model output, its x̂₀); an adaptive sampler takes no
    // such step, so a request for one is an error rather than silently ignored.
    private ISampler RefuseWrappers(ISampler sampler, IEnumerable<WrapperRegistration> chain, SamplingOptions options, bool karras, bool thresholding)
    {
        var why = $"the '{sampler.Name}' sampler chooses its own steps, and the wrappers work on a fixed schedule's steps";
        if (karras && options.Spacing is { } spacing) throw new SamplingOptionException(nameof(SamplingOptions.Spacing), spacing.ToString(), $"unset: {why}");
        if (karras) throw new SamplingOptionException(nameof(SamplingOptions.UseKarrasSigmas), "true", $"false or null: {why}");
        if (thresholding) throw new SamplingOptionException(nameof(SamplingOptions.Thresholding), "true", $"false or null: {why}");
        foreach (var wrapper in chain)
        {
            if (ReferenceEquals(wrapper.Wrap(sampler, options, _services), sampler)) continue;
            throw wrapper.Name switch
            {
                "temperature" => new SamplingOptionException(nameof(SamplingOptions.Temperature), options.Temperature.ToString(System.Globalization.CultureInfo.InvariantCulture), $"1: {why}"),
                "noise-injection" => new SamplingOptionException(nameof(SamplingOptions.NoiseInjection), options.NoiseInjection.ToString(System.Globalization.CultureInfo.InvariantCulture), $"0: {why}"),
                _ => new DiffusionException($"The wrapper '{wrapper.Name}' cannot wrap the '{sampler.Name}' sampler: {why}. Leave it out of requests that use this sampler."),
            };
        }
        return sampler;
    }

    public string ResolveName(SamplingOptions options, SchedulerConfig? modelConfig = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Resolve(options.Sampler, modelConfig, warn: false).Name;
    }

    // The sampler a request runs: the one it names; else the class the model's configuration names, through the
    // registry (plugins included); else DDIM, with a warning when the configuration named a class nobody registered.
    private SamplerRegistration Resolve(string? name, SchedulerConfig? config, bool warn)
    {
        if (name is not null)
            return _byName.TryGetValue(name, out var named) ? named : throw new UnknownSamplerException(name, Names);
        if (config?.ClassName is { } className)
        {
            if (_byClassName.TryGetValue(className, out var byClass)) return byClass;
            var fallback = _byName.GetValueOrDefault(DefaultSampler) ?? throw new UnknownSamplerException(DefaultSampler, Names);
            if (warn)
                _logger.LogWarning("The model's scheduler configuration names the class '{ClassName}', which no registered sampler implements; " +
                               "sampling with '{Sampler}' instead. Name a sampler explicitly, or register one that implements it ({Known}).",
                className, fallback.Name, string.Join(", ", _byClassName.Keys.Order(StringComparer.Ordinal)));
            return fallback;
        }
        return _byName.TryGetValue(DefaultSampler, out var ddim) ? ddim : throw new UnknownSamplerException(DefaultSampler, Names);
    }

    private const string DefaultSampler = SamplerNames.Ddim;

    private static readonly WrapperRegistration[] BuiltInWrappers =
    [
        new("noise-injection", BuiltInWrapperOrder.NoiseInjection, (s, o, _) => o.NoiseInjection != 0 ? new NoiseInjectionWrapper(s, o.NoiseInjection) : s),
        new("temperature", BuiltInWrapperOrder.Temperature, (s, o, _) => o.Temperature != 1 ? new TemperatureWrapper(s, o.Temperature) : s),
    ];

    public ISampler CreateFromFile(string path, string? name = null)
    {
        var config = SchedulerConfigJson.Load(path, _logger);
        return name is null ? Create(config) : Create(name, config);
    }
}
