using Diffusion.Sdk.Abstractions;
using Microsoft.Extensions.DependencyInjection;

namespace Diffusion.Sdk;

/// <summary>The host's <see cref="IDiffusionBuilder"/>: registrations go into the service collection, stamped with their source.</summary>
internal sealed class DiffusionBuilder(IServiceCollection services, string? source = null) : IDiffusionBuilder
{
    public IServiceCollection Services { get; } = services;

    public IDiffusionBuilder AddSampler(SamplerRegistration registration)
    {
        ArgumentNullException.ThrowIfNull(registration);
        ArgumentException.ThrowIfNullOrWhiteSpace(registration.Name);
        Services.AddSingleton(source is null ? registration : registration with { Source = source });
        return this;
    }

    public IDiffusionBuilder AddWrapper(Diffusion.Sdk.Abstractions.WrapperRegistration registration)
    {
        ArgumentNullException.ThrowIfNull(registration);
        Services.AddSingleton(registration);
        return this;
    }
}
