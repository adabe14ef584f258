using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Binds <see cref="SamplingOptions"/> from configuration with the Options pattern.</summary>
public static class SamplingOptionsServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="SamplingOptions"/> from <paramref name="section"/> (e.g. <c>configuration.GetSection("Sampling")</c>)
    /// and validates them when first resolved; an invalid value fails with an <see cref="OptionsValidationException"/>
    /// whose message names the field and what it accepts.
    /// </summary>
    public static IDiffusionBuilder AddSamplingOptions(this IDiffusionBuilder builder, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(section);
        builder.Services.AddOptions<SamplingOptions>().Bind(section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<SamplingOptions>, SamplingOptionsValidator>();
        return builder;
    }

    private sealed class SamplingOptionsValidator : IValidateOptions<SamplingOptions>
    {
        public ValidateOptionsResult Validate(string? name, SamplingOptions options)
        {
            try
            {
                options.Validate();
                return ValidateOptionsResult.Success;
            }
            catch (SamplingOptionException e)
            {
                return ValidateOptionsResult.Fail(e.Message);
            }
        }
    }
}
