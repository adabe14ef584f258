using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Onnx;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers an ONNX diffusion model with the host.</summary>
public static class OnnxServiceCollectionExtensions
{
    /// <summary>
    /// Registers the model at <paramref name="path"/> (a pipeline folder or an <c>.onnx</c> file) as the singleton
    /// <see cref="IDiffusionModel"/> (and <see cref="OnnxDiffusionModel"/>), loaded on first use with the
    /// <see cref="OnnxModelOptions"/> from the Options pattern; the container disposes it.
    /// <c>services.AddDiffusionSampling().AddDdimSampler().AddOnnxModel("models/digits", o => o.ExecutionProvider = OnnxExecutionProvider.Auto)</c>.
    /// </summary>
    /// <param name="builder">The host builder.</param>
    /// <param name="path">A pipeline folder or an <c>.onnx</c> file.</param>
    /// <param name="configure">Sets the options in code; applied after any bound configuration.</param>
    public static IDiffusionBuilder AddOnnxModel(this IDiffusionBuilder builder, string path, Action<OnnxModelOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var options = builder.Services.AddOptions<OnnxModelOptions>();
        if (configure is not null) options.Configure(configure);
        builder.Services.TryAddSingleton(provider => OnnxDiffusionModel.Load(path,
            provider.GetRequiredService<IOptions<OnnxModelOptions>>().Value,
            provider.GetService<ILoggerFactory>()?.CreateLogger<OnnxDiffusionModel>()));
        builder.Services.TryAddSingleton<IDiffusionModel>(provider => provider.GetRequiredService<OnnxDiffusionModel>());
        return builder;
    }

    /// <summary>
    /// Registers the model at <paramref name="path"/> with <see cref="OnnxModelOptions"/> bound from
    /// <paramref name="section"/> (e.g. <c>configuration.GetSection("Onnx")</c>: <c>ExecutionProvider</c>,
    /// <c>DeviceId</c>, <c>IntraOpThreads</c>, <c>SampleInput</c>, …).
    /// </summary>
    public static IDiffusionBuilder AddOnnxModel(this IDiffusionBuilder builder, string path, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<OnnxModelOptions>().Bind(section);
        return builder.AddOnnxModel(path);
    }
}
