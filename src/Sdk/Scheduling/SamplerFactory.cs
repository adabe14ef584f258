using Diffusion.Configuration;
using Diffusion.Plugins;
using Diffusion.Wrappers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Diffusion.Scheduling;

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
        foreach (var registration in registrations)
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

    public IScheduler Create(string name, SchedulerConfig? config = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!_byName.TryGetValue(name, out var registration)) throw new UnknownSamplerException(name, Names);
        return registration.Create(config ?? new SchedulerConfig(), _services);
    }

    public IScheduler Create(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var className = config.ClassName
            ?? throw new SchedulerConfigException("_class_name", null, "the reference class name of the sampler, e.g. \"DDIMScheduler\" (or pass a sampler name)");
        if (_byClassName.TryGetValue(className, out var registration)) return registration.Create(config, _services);
        throw new SchedulerConfigException("_class_name", ConfigNames.Quote(className), ConfigNames.OneOf(_byClassName.Keys.Order(StringComparer.Ordinal)));
    }

    public IScheduler Create(SamplingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var sampler = Create(options.SchedulerType, options.ToSchedulerConfig());
        foreach (var wrapper in _wrappers) sampler = wrapper.Wrap(sampler, options, _services);
        return sampler;
    }

    private static readonly WrapperRegistration[] BuiltInWrappers =
    [
        new("karras-sigmas", BuiltInWrapperOrder.KarrasSigmas, (s, o, _) => o.UseKarrasSigmas ? new KarrasSigmasWrapper(s) : s),
        new("thresholding", BuiltInWrapperOrder.Thresholding, (s, o, _) => o.Thresholding ? new ThresholdingWrapper(s, ThresholdingMode.Dynamic, o.DynamicThresholdingRatio, o.SampleMaxValue) : s),
        new("noise-injection", BuiltInWrapperOrder.NoiseInjection, (s, o, _) => o.NoiseInjection != 0 ? new NoiseInjectionWrapper(s, o.NoiseInjection) : s),
        new("temperature", BuiltInWrapperOrder.Temperature, (s, o, _) => o.Temperature != 1 ? new TemperatureWrapper(s, o.Temperature) : s),
    ];

    public IScheduler CreateFromFile(string path, string? name = null)
    {
        var config = SchedulerConfigJson.Load(path, _logger);
        return name is null ? Create(config) : Create(name, config);
    }
}
