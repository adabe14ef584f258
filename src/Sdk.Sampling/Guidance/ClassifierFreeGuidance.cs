using Diffusion.Sdk.Abstractions;
using System.Numerics.Tensors;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// Classifier-free guidance (Ho &amp; Salimans 2022, https://arxiv.org/abs/2207.12598) around any denoiser:
/// out = out_uncond + w·(out_cond − out_uncond), optionally with the guidance rescale φ of "Common Diffusion Noise
/// Schedules and Sample Steps are Flawed" (Lin et al. 2023, §3.4): the guided output's per-item standard deviation
/// is pulled back toward the conditional one, out ← φ·out·(std_cond/std_out) + (1−φ)·out.
/// </summary>
/// <remarks>
/// The combination is affine, so it is the same for ε, x₀ and v predictions. Conditional and unconditional passes run
/// as one batch of 2B when the model takes it, and as two calls of B when its batch is fixed smaller; w = 1 runs the
/// conditional pass only, unless the unconditional output is kept for CFG++ (<see cref="KeepsUnconditionalOutput"/>). Buffers are kept between calls, so a step allocates nothing once warm. Not thread-safe:
/// use one instance per sampling run.
/// </remarks>
public sealed class ClassifierFreeGuidance : IDenoiser, IUnconditionalOutputSource
{
    private readonly IDenoiser _inner;
    private readonly long _unconditionalLabel;
    private readonly float[]? _unconditionalHiddenStates;
    private float[] _sample = [], _output = [], _hidden = [];
    private long[] _labels = [];
    // Where the last call's unconditional output lies in _output (CFG++ only).
    private int _unconditionalStart, _unconditionalLength;

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    /// <param name="inner">The conditional model.</param>
    /// <param name="scale">The guidance weight w (1 = no guidance; larger follows the condition more closely).</param>
    /// <param name="rescale">φ in [0, 1]; 0 turns the rescale off.</param>
    /// <param name="unconditionalLabel">The class label that means "no condition" for class-conditional models.</param>
    /// <param name="unconditionalHiddenStates">The embeddings of the empty (or negative) prompt, for text-conditioned models: one item's (used for every item) or the whole batch's, item after item.</param>
    public ClassifierFreeGuidance(IDenoiser inner, double scale, double rescale = 0, long unconditionalLabel = -1, float[]? unconditionalHiddenStates = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!double.IsFinite(scale) || scale < 0)
            throw new SchedulerConfigException("guidance_scale", scale.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "a finite number >= 0 (1 = no guidance)");
        if (!(rescale >= 0 && rescale <= 1))
            throw new SchedulerConfigException("guidance_rescale", rescale.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "a number in [0, 1]");
        _inner = inner;
        Scale = scale;
        Rescale = rescale;
        _unconditionalLabel = unconditionalLabel;
        _unconditionalHiddenStates = unconditionalHiddenStates;
    }

    /// <summary>The guidance weight w.</summary>
    public double Scale { get; }

    /// <summary>
    /// Whether a pipeline runs guidance for <paramref name="scale"/>: only above 1, as the reference's pipelines decide
    /// (<c>do_classifier_free_guidance = guidance_scale &gt; 1</c>); at or below 1 the conditional model runs alone.
    /// The one place every pipeline asks.
    /// </summary>
    public static bool Applies(double? scale) => scale > 1;

    /// <summary>The guidance rescale φ.</summary>
    public double Rescale { get; }

    /// <summary>
    /// CFG++ (<see cref="ICfgPlusPlusSampler"/>): keep each call's unconditional output for the sampler
    /// (<see cref="UnconditionalOutput"/>), and evaluate it at w = 1 too, where plain guidance runs the conditional pass only.
    /// </summary>
    public bool KeepsUnconditionalOutput { get; init; }

    /// <inheritdoc/>
    public ReadOnlySpan<float> UnconditionalOutput =>
        KeepsUnconditionalOutput ? _output.AsSpan(_unconditionalStart, _unconditionalLength) : default;

    /// <summary>Model evaluations (calls to the inner denoiser) so far.</summary>
    public int Evaluations { get; private set; }

    /// <inheritdoc/>
    public int? FixedBatchSize => _inner.FixedBatchSize;

    /// <summary>Disposes the wrapped denoiser, which this wrapper owns.</summary>
    public void Dispose() => _inner.Dispose();

    /// <inheritdoc/>
    public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default)
    {
        if (Scale == 1 && !KeepsUnconditionalOutput)
        {
            // w = 1 is the conditional model itself: one evaluation, not two.
            Evaluations++;
            _inner.Predict(input, output, cancellationToken);
            return;
        }

        var shape = input.Shape;
        var n = shape.Length;
        var both = shape.WithBatch(2 * shape.Batch);
        Grow(ref _output, 2 * n);
        Span<float> cond, uncond;

        if (input.Conditioning is { HasUnconditionalRows: true } conditioning)
        {
            // The run's conditioning already holds both halves, unconditional rows first, as the reference batches
            // them: only the sample is doubled. A model with a smaller fixed batch gets its chunks from the denoiser.
            if (input.ConditioningRow != conditioning.ConditionalRowStart || shape.Batch != conditioning.ConditionalRowStart)
                throw new ArgumentException($"Guidance evaluates the whole batch: the input's {shape.Batch} items from conditioning row {input.ConditioningRow} do not match the conditioning's {conditioning.Rows / 2} conditional rows.", nameof(input));
            uncond = _output.AsSpan(0, n);
            cond = _output.AsSpan(n, n);
            Grow(ref _sample, 2 * n);
            input.Sample.CopyTo(_sample);
            input.Sample.CopyTo(_sample.AsSpan(n));
            Evaluations += _inner.FixedBatchSize is { } fixedSize && fixedSize < both.Batch ? 2 : 1; // as the split path below counts them
            _inner.Predict(new DenoiserInput(_sample.AsSpan(0, 2 * n), both, input.Timestep, conditioning, 0), _output.AsSpan(0, 2 * n), cancellationToken);
            Combine(cond, uncond, output, shape);
            (_unconditionalStart, _unconditionalLength) = (0, n);
            return;
        }

        cond = _output.AsSpan(0, n);
        uncond = _output.AsSpan(n, n);
        if (_inner.FixedBatchSize is not { } fixedBatch || fixedBatch >= both.Batch)
        {
            // One batch of 2B: [conditional items…, unconditional items…].
            Grow(ref _sample, 2 * n);
            input.Sample.CopyTo(_sample);
            input.Sample.CopyTo(_sample.AsSpan(n));
            var labels = BothLabels(input);
            var hidden = BothHiddenStates(input);
            Evaluations++;
            _inner.Predict(new DenoiserInput(_sample.AsSpan(0, 2 * n), both, input.Timestep, labels, hidden), _output.AsSpan(0, 2 * n), cancellationToken);
        }
        else
        {
            Evaluations += 2;
            _inner.Predict(input, cond, cancellationToken);
            var labels = BothLabels(input);
            var hidden = BothHiddenStates(input);
            _inner.Predict(new DenoiserInput(input.Sample, shape, input.Timestep,
                labels.IsEmpty ? default : labels[shape.Batch..], hidden.IsEmpty ? default : hidden[(hidden.Length / 2)..]), uncond, cancellationToken);
        }

        Combine(cond, uncond, output, shape);
        (_unconditionalStart, _unconditionalLength) = (n, n);
    }

    // out = uncond + w·(cond − uncond), then the optional rescale toward the conditional prediction.
    private void Combine(ReadOnlySpan<float> cond, ReadOnlySpan<float> uncond, Span<float> output, TensorShape shape)
    {
        TensorPrimitives.Subtract(cond, uncond, output);
        TensorPrimitives.MultiplyAdd(output, (float)Scale, uncond, output);

        if (Rescale > 0) RescaleTowardConditional(cond, output, shape);
    }

    private void RescaleTowardConditional(ReadOnlySpan<float> cond, Span<float> guided, TensorShape shape)
    {
        var itemLength = shape.ItemLength;
        for (var b = 0; b < shape.Batch; b++)
        {
            var item = guided.Slice(b * itemLength, itemLength);
            var ratio = StandardDeviation(cond.Slice(b * itemLength, itemLength)) / StandardDeviation(item);
            if (!float.IsFinite(ratio)) continue; // a constant output has nothing to rescale
            // φ·(out·ratio) + (1−φ)·out = out·(φ·ratio + 1 − φ)
            TensorPrimitives.Multiply(item, (float)(Rescale * ratio + 1 - Rescale), item);
        }
    }

    // Only the ratio of two standard deviations is used, so the normalisation (n or n − 1) cancels. Fixed-order sums,
    // so that the ratio (and the guided output) has the same bits whatever the machine's vector width.
    private static float StandardDeviation(ReadOnlySpan<float> x)
    {
        var mean = FixedOrderSum.Sum(x) / x.Length;
        return (float)Math.Sqrt(FixedOrderSum.SumOfSquaredDeviations(x, mean) / x.Length);
    }

    private ReadOnlySpan<long> BothLabels(in DenoiserInput input)
    {
        if (input.ClassLabels.IsEmpty) return default;
        var batch = input.Shape.Batch;
        Grow(ref _labels, 2 * batch);
        input.ClassLabels.CopyTo(_labels);
        _labels.AsSpan(batch, batch).Fill(_unconditionalLabel);
        return _labels.AsSpan(0, 2 * batch);
    }

    private ReadOnlySpan<float> BothHiddenStates(in DenoiserInput input)
    {
        if (input.EncoderHiddenStates.IsEmpty) return default;
        var length = input.EncoderHiddenStates.Length;
        var perItem = length / input.Shape.Batch;
        if (_unconditionalHiddenStates is null || (_unconditionalHiddenStates.Length != perItem && _unconditionalHiddenStates.Length != length))
            throw new ArgumentException($"Guidance with encoder hidden states needs the unconditional embeddings of one item ({perItem} values) or of the whole batch ({length}); pass them to the constructor.");
        Grow(ref _hidden, 2 * length);
        input.EncoderHiddenStates.CopyTo(_hidden);
        if (_unconditionalHiddenStates.Length == length) _unconditionalHiddenStates.CopyTo(_hidden.AsSpan(length));
        else for (var b = 0; b < input.Shape.Batch; b++) _unconditionalHiddenStates.CopyTo(_hidden.AsSpan(length + b * perItem));
        return _hidden.AsSpan(0, 2 * length);
    }

    private static void Grow<T>(ref T[] buffer, int length)
    {
        if (buffer.Length < length) buffer = new T[length];
    }
}
