using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Pipeline;

/// <summary>
/// The inpainting UNet's input: each item's latents, then its extra channels (mask, masked-image latents), the same
/// extras for a guidance batch's unconditional and conditional rows, and the output with the latent's channels only.
/// </summary>
[TestFixture]
public sealed class ConcatenatedChannelsDenoiserTests
{
    // Records the wide sample it is given and answers with its first channels (the latent's).
    private sealed class Recorder(int outputChannels) : IDenoiser
    {
        public List<(float[] Sample, TensorShape Shape, int Row)> Calls { get; } = [];

        public int? FixedBatchSize => null;

        public void Dispose() { }

        public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default)
        {
            Calls.Add((input.Sample.ToArray(), input.Shape, input.ConditioningRow));
            var plane = input.Shape.Height * input.Shape.Width;
            for (var b = 0; b < input.Shape.Batch; b++)
                input.Sample.Slice(b * input.Shape.ItemLength, outputChannels * plane).CopyTo(output.Slice(b * outputChannels * plane));
        }
    }

    [Test]
    public void EachRowGetsItsItemsExtrasUnderGuidance()
    {
        // Batch 2 of [2 channels, 1×2], extras of 1 channel: item 0's are 100s, item 1's 200s.
        var shape = new TensorShape(2, 2, 1, 2);
        var recorder = new Recorder(2);
        using var concat = new ConcatenatedChannelsDenoiser(recorder, [100, 101, 200, 201], batch: 2, extraChannels: 1);
        var conditioning = new ModelConditioning(4, hasUnconditionalRows: true, encoderHiddenStates: new float[4 * 3]);
        using var guided = new ClassifierFreeGuidance(concat, 2.0);
        var output = new float[shape.Length];
        guided.Predict(new DenoiserInput([1, 2, 3, 4, 5, 6, 7, 8], shape, 500, conditioning, conditioning.ConditionalRowStart), output);

        var (sample, wide, _) = recorder.Calls.Single();
        Assert.That(wide, Is.EqualTo(new TensorShape(4, 3, 1, 2)), "2B rows of 2 + 1 channels");
        Assert.That(sample, Is.EqualTo(new float[]
        {
            1, 2, 3, 4, 100, 101,   // unconditional row of item 0
            5, 6, 7, 8, 200, 201,   // unconditional row of item 1
            1, 2, 3, 4, 100, 101,   // conditional row of item 0
            5, 6, 7, 8, 200, 201,   // conditional row of item 1
        }));
        Assert.That(output, Is.EqualTo(new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }), "u + w·(c − u) of equal halves; the latent's channels only");
    }

    [Test]
    public void ExtrasThatDoNotFitTheSampleAreRefused()
    {
        using var concat = new ConcatenatedChannelsDenoiser(new Recorder(2), new float[6], batch: 2, extraChannels: 1);
        var shape = new TensorShape(2, 2, 1, 2);
        Assert.Throws<ArgumentException>(() => concat.Predict(new DenoiserInput(new float[shape.Length], shape, 1), new float[shape.Length]));
        Assert.Throws<ArgumentException>(() => new ConcatenatedChannelsDenoiser(new Recorder(2), new float[5], batch: 2, extraChannels: 1));
    }
}
