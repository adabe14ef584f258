using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.Pipeline;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Conditioning;

/// <summary>
/// The run's conditioning (<see cref="ModelConditioning"/>): built once, rows selected by the loop, guidance and the
/// batch-halving retry, and fed by name to an ONNX UNet with extra per-item inputs.
/// </summary>
public class ModelConditioningTests
{
    private static string ModelPath => TestData.Path("conditioning", "conditioning-inputs.onnx");

    [Test]
    public void Constructor_RefusesTensorsThatDoNotSplitIntoRows()
    {
        Assert.Multiple(() =>
        {
            Assert.Throws<ArgumentException>(() => new ModelConditioning(3, hasUnconditionalRows: true));
            Assert.Throws<ArgumentException>(() => new ModelConditioning(2, false, encoderHiddenStates: new float[5]));
            Assert.Throws<ArgumentException>(() => new ModelConditioning(2, false, classLabels: [1, 2, 3]));
            Assert.Throws<ArgumentException>(() => new ModelConditioning(2, false, inputs: [new ConditioningInput("a", new float[5], [3])]));
            Assert.Throws<ArgumentException>(() => new ModelConditioning(1, false, inputs: [new ConditioningInput("a", new float[1], [1]), new ConditioningInput("a", new float[1], [1])]));
            Assert.Throws<ArgumentOutOfRangeException>(() => new ModelConditioning(0, false));
        });
    }

    [Test]
    public void Rows_AreSelectedByTheInputsFirstRow()
    {
        var conditioning = new ModelConditioning(4, hasUnconditionalRows: true, encoderHiddenStates: [0, 0, 1, 1, 2, 2, 3, 3], classLabels: [10, 11, 12, 13]);
        var input = new DenoiserInput(new float[2], new TensorShape(2, 1, 1, 1), 5, conditioning, conditioning.ConditionalRowStart);
        var hidden = input.EncoderHiddenStates.ToArray();
        var labels = input.ClassLabels.ToArray();
        var second = input.Items(new float[1], 1, 1);
        var secondRow = second.ConditioningRow;
        var secondHidden = second.EncoderHiddenStates.ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(conditioning.ConditionalRowStart, Is.EqualTo(2));
            Assert.That(hidden, Is.EqualTo(new float[] { 2, 2, 3, 3 }));
            Assert.That(labels, Is.EqualTo(new long[] { 12, 13 }));
            Assert.That(secondRow, Is.EqualTo(3));
            Assert.That(secondHidden, Is.EqualTo(new float[] { 3, 3 }));
        });
    }

    [Test]
    public void Guidance_WithUnconditionalRows_MatchesGuidanceGivenTheNegativeEmbeddings()
    {
        // The same guided prediction, whether the negative embeddings are passed to the guidance (the old form) or
        // are the conditioning's first rows (built once per run): bit for bit.
        var shape = new TensorShape(2, 1, 2, 2);
        var sample = Enumerable.Range(0, shape.Length).Select(i => 0.1f * i - 0.3f).ToArray();
        float[] negative = [0.5f, -1.5f], prompts = [2f, 1f, -3f, 0.25f];
        var old = new float[shape.Length];
        using (var guidance = new ClassifierFreeGuidance(new HiddenStatesNetwork(), 7.5, 0.7, unconditionalHiddenStates: negative))
            guidance.Predict(new DenoiserInput(sample, shape, 3, default, prompts), old);

        var conditioning = new ModelConditioning(4, true, encoderHiddenStates: [.. negative, .. negative, .. prompts]);
        var fresh = new float[shape.Length];
        var network = new HiddenStatesNetwork();
        using (var guidance = new ClassifierFreeGuidance(network, 7.5, 0.7))
            guidance.Predict(new DenoiserInput(sample, shape, 3, conditioning, conditioning.ConditionalRowStart), fresh);
        Assert.Multiple(() =>
        {
            Assert.That(fresh, Is.EqualTo(old));
            Assert.That(network.Batches, Is.EqualTo(new[] { 4 }), "one call with both halves");
        });
    }

    [Test]
    public void HalvingRetry_GivesEachHalfItsOwnRows()
    {
        var shape = new TensorShape(4, 1, 1, 1);
        var conditioning = new ModelConditioning(4, false, encoderHiddenStates: [1, 2, 3, 4]);
        var network = new HiddenStatesNetwork { FailAbove = 2 };
        var output = new float[4];
        using var halving = new HalvingDenoiser(network, _ => { });
        halving.Predict(new DenoiserInput(new float[4], shape, 0, conditioning, 0), output);
        Assert.That(output, Is.EqualTo(new float[] { 1, 2, 3, 4 }));
    }

    [Test]
    public void OnnxUnet_ListsItsExtraInputs()
    {
        using var model = OnnxDiffusionModel.Load(ModelPath, new OnnxModelOptions { NumTrainTimesteps = 1000 });
        var inputs = model.Info.ConditioningInputs;
        Assert.Multiple(() =>
        {
            Assert.That(inputs.Select(i => i.Name), Is.EquivalentTo(new[] { "text_embeds", "time_ids" }));
            Assert.That(model.Info.FindConditioningInput("text_embeds")!.RowLength, Is.EqualTo(3));
            Assert.That(model.Info.FindConditioningInput("time_ids")!.ElementType, Is.EqualTo("int64"));
        });
    }

    [TestCase(false)]
    [TestCase(true)]
    public void OnnxUnet_FeedsEachItemItsRowOfEveryInput(bool guided)
    {
        using var model = OnnxDiffusionModel.Load(ModelPath, new OnnxModelOptions { NumTrainTimesteps = 1000 });
        var shape = new TensorShape(2, 4, 2, 2);
        var rows = guided ? 4 : 2;
        // Row r: hidden states sum r, text_embeds sum 0.5·r, time_ids sum r (integers; 0.4 rounds to 0).
        var hidden = Enumerable.Range(0, rows).SelectMany(r => new float[] { r, 0 }).ToArray();
        var embeds = Enumerable.Range(0, rows).SelectMany(r => new float[] { 0.5f * r, 0, 0 }).ToArray();
        var ids = Enumerable.Range(0, rows).SelectMany(r => new float[] { r, 0.4f }).ToArray();
        var conditioning = new ModelConditioning(rows, guided, hidden, inputs:
            [new ConditioningInput("text_embeds", embeds, [3]), new ConditioningInput("time_ids", ids, [2])]);
        var sample = new float[shape.Length];
        var output = new float[shape.Length];
        using var denoiser = model.CreateDenoiser();
        using var guidance = new ClassifierFreeGuidance(denoiser, 2);
        IDenoiser run = guided ? guidance : denoiser;
        run.Predict(new DenoiserInput(sample, shape, 10, conditioning, conditioning.ConditionalRowStart), output);
        static float Offset(int r) => r + 100 * 0.5f * r + 10000 * r;
        for (var b = 0; b < 2; b++)
        {
            var expected = guided ? Offset(b) + 2 * (Offset(2 + b) - Offset(b)) : Offset(b);
            Assert.That(output.AsSpan(b * shape.ItemLength, shape.ItemLength).ToArray(), Is.All.EqualTo(expected).Within(1e-2), $"item {b}");
        }
    }

    [Test]
    public void OnnxUnet_WithoutAnInputItNeeds_IsATypedErrorNamingIt()
    {
        using var model = OnnxDiffusionModel.Load(ModelPath, new OnnxModelOptions { NumTrainTimesteps = 1000 });
        using var denoiser = model.CreateDenoiser();
        var shape = new TensorShape(1, 4, 2, 2);
        var missing = new ModelConditioning(1, false, [0f, 0f], inputs: [new ConditioningInput("text_embeds", new float[3], [3])]);
        var wrongShape = new ModelConditioning(1, false, [0f, 0f], inputs: [new ConditioningInput("text_embeds", new float[4], [4]), new ConditioningInput("time_ids", new float[2], [2])]);
        var output = new float[shape.Length];
        Assert.Multiple(() =>
        {
            var e = Assert.Throws<ModelInputException>(() => denoiser.Predict(new DenoiserInput(new float[shape.Length], shape, 1, missing, 0), output));
            Assert.That(e!.Message, Does.Contain("'time_ids'"));
            e = Assert.Throws<ModelInputException>(() => denoiser.Predict(new DenoiserInput(new float[shape.Length], shape, 1, wrongShape, 0), output));
            Assert.That(e!.Message, Does.Contain("'text_embeds'").And.Contain("[4]"));
            e = Assert.Throws<ModelInputException>(() => denoiser.Predict(new DenoiserInput(new float[shape.Length], shape, 1, default, [0f, 0f]), output));
            Assert.That(e!.Message, Does.Contain("'text_embeds'"));
        });
    }

    // out = sample + sum of the item's hidden states; records the batch of every call; fails (out of memory) above a batch size.
    private sealed class HiddenStatesNetwork : IDenoiser
    {
        public List<int> Batches { get; } = [];
        public int FailAbove { get; init; } = int.MaxValue;
        public int? FixedBatchSize => null;
        public void Dispose() { }

        public void Predict(in DenoiserInput input, Span<float> output, CancellationToken cancellationToken = default)
        {
            var shape = input.Shape;
            if (shape.Batch > FailAbove) throw new ModelOutOfMemoryException("too large");
            Batches.Add(shape.Batch);
            var perItem = input.EncoderHiddenStates.Length / shape.Batch;
            for (var b = 0; b < shape.Batch; b++)
            {
                var h = 0f;
                foreach (var v in input.EncoderHiddenStates.Slice(b * perItem, perItem)) h += v;
                for (var i = 0; i < shape.ItemLength; i++)
                    output[b * shape.ItemLength + i] = input.Sample[b * shape.ItemLength + i] * (1 + 0.1f * h) + h;
            }
        }
    }
}
