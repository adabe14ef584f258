using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Diffusion.Sdk.Tests.Support;

/// <summary>The host the tests sample through: DI with every built-in sampler registered, as an application would set it up.</summary>
public static class TestHost
{
    private static readonly Lazy<ServiceProvider> Provider = new(() => Build(b => { }));

    /// <summary>The shared factory with all built-in samplers.</summary>
    public static ISamplerFactory Factory => Provider.Value.GetRequiredService<ISamplerFactory>();

    /// <summary>A fresh provider with the built-in samplers plus whatever <paramref name="configure"/> adds.</summary>
    public static ServiceProvider Build(Action<IDiffusionBuilder> configure, IServiceCollection? services = null)
    {
        services ??= new ServiceCollection();
        var builder = services.AddDiffusionSampling();
        AddBuiltInSamplers(builder);
        configure(builder);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    /// <summary>A fresh provider with the built-in samplers whose log goes to <paramref name="logger"/>.</summary>
    public static ServiceProvider Build(ListLogger logger, Action<IDiffusionBuilder>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(logger));
        return Build(configure ?? (_ => { }), services);
    }

    /// <summary>Registers every built-in sampler assembly (the SDK's one list, <c>AddBuiltInSamplers()</c>).</summary>
    public static void AddBuiltInSamplers(IDiffusionBuilder builder) => builder.AddBuiltInSamplers();
}
