using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Pipeline;

/// <summary>
/// A denoiser wrapper that appends fixed channels to every sample before the model sees them: an inpainting UNet's
/// latent mask and masked-image latents (9 = 4 + 1 + 4 channels), concatenated after the (scaled) latents as the
/// reference's <c>torch.cat([latent_model_input, mask, masked_image_latents], dim=1)</c>. The model's output keeps the
/// latent's channels. The extra channels are given once per batch item and are the same for a guidance batch's
/// unconditional and conditional rows (the reference repeats them, <c>cat([m, m])</c>), so an evaluation's item reads
/// the extras of its conditioning row modulo the batch. Not thread-safe: one instance per run; allocates only when the
/// batch grows.
/// </summary>
public sealed class ConcatenatedChannelsDenoiser : IDenoiser
{
    private readonly IDenoiser _inner;
    private readonly float[] _extra;
    private readonly int _batch, _extraChannels;
    private float[] _sample = [];

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    /// <param name="inner">The model, which takes the latent's channels plus <paramref name="extraChannels"/>.</param>
    /// <param name="extra">The channels to append, per batch item: [<paramref name="batch"/>, <paramref name="extraChannels"/>, height, width].</param>
    /// <param name="batch">Batch items (without guidance's doubling).</param>
    /// <param name="extraChannels">Channels appended to each item.</param>
    public ConcatenatedChannelsDenoiser(IDenoiser inner, float[] extra, int batch, int extraChannels)
    {
        _inner = inner ?? throw new ArgumentNullException(nameof(inner));
        _extra = extra ?? throw new ArgumentNullException(nameof(extra));
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(extraChannels, 1);
        if (extra.Length % (batch * extraChannels) != 0)
            throw new ArgumentException($"{extra.Length} values are not {batch} items of {extraChannels} whole channels.", nameof(extra));
        _batch = batch;
        _extraChannels = extraChannels;
    }

    /// <inheritdoc/>
    public int? FixedBatchSize => _inner.FixedBatchSize;

    /// <summary>Disposes the wrapped denoiser, which this wrapper owns.</summary>
    public void Dispose() => _inner.Dispose();

    /// <inheritdoc/>
    public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default)
    {
        var shape = input.Shape;
        var plane = shape.Height * shape.Width;
        var extraItem = _extraChannels * plane;
        if (_extra.Length != _batch * extraItem)
            throw new ArgumentException($"The appended channels are {_extra.Length / (_batch * _extraChannels)} values a plane; the sample {shape} has {plane}.", nameof(input));
        var wide = shape with { Channels = shape.Channels + _extraChannels };
        if (_sample.Length < wide.Length) _sample = new float[wide.Length];
        var sample = _sample.AsSpan(0, wide.Length);
        var firstRow = input.Conditioning is null ? 0 : input.ConditioningRow;
        for (var i = 0; i < shape.Batch; i++)
        {
            input.Sample.Slice(i * shape.ItemLength, shape.ItemLength).CopyTo(sample.Slice(i * wide.ItemLength));
            var item = (firstRow + i) % _batch;
            _extra.AsSpan(item * extraItem, extraItem).CopyTo(sample.Slice(i * wide.ItemLength + shape.ItemLength));
        }
        var widened = input.Conditioning is { } conditioning
            ? new DenoiserInput(sample, wide, input.Timestep, conditioning, input.ConditioningRow)
            : new DenoiserInput(sample, wide, input.Timestep, input.ClassLabels, input.EncoderHiddenStates);
        _inner.Predict(widened, output, cancellationToken);
    }
}
