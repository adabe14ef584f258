using System.Diagnostics;
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusion;
using Diffusion.Sdk.Tests.Support;
using Diffusion.Sdk.Tests.Tokenizers;
using Diffusion.Sdk.Tokenizers;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>
/// Cancellation reaches every stage of a Stable Diffusion run (between and inside text-encoder calls, during VAE
/// decoding), and tokenizing is linear in the prompt, so a hostile prompt cannot hold a run before its first check.
/// </summary>
[TestFixture]
public sealed class StableDiffusionCancellationTests
{
    [Test]
    public void CancellingDuringTextEncodingStopsBeforeTheRestArePrompted()
    {
        using var cancel = new CancellationTokenSource();
        var tokenizer = new CancellingTokenizer(ClipPromptTokenizer.FromFolder(Path.Combine(SdFixture.ModelFolder, "tokenizer")), cancel, after: 20);
        using var model = StableDiffusionModel.Load(SdFixture.ModelFolder, new StableDiffusionOptions { Tokenizer = tokenizer });
        var prompts = Enumerable.Range(0, 3000).Select(i => $"cat number {i}").ToArray();
        Assert.That(() => new StableDiffusionPipeline(model, TestHost.Factory).Generate(new StableDiffusionRequest
        {
            Prompts = prompts, GuidanceScale = 1, Steps = 2, Width = 64, Height = 64,
        }, cancellationToken: cancel.Token), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(tokenizer.Calls, Is.LessThanOrEqualTo(21), "no prompt was encoded after the cancellation");
    }

    [Test]
    public void CancellingDuringVaeDecodingStopsIt()
    {
        using var cancel = new CancellationTokenSource();
        var clock = new Stopwatch();
        var request = new StableDiffusionRequest
        {
            Prompt = "a cat", GuidanceScale = 1, Steps = 2, Width = 64, Height = 64, ImagesPerPrompt = 64,
            // The last step is done: the 64 images are decoded one by one from here, and the token is cancelled 20 ms in.
            OnStep = (step, _) =>
            {
                if (step.Index != 1) return;
                clock.Start();
                cancel.CancelAfter(20);
            },
        };
        Assert.That(() => SdFixture.Pipeline.Generate(request, cancellationToken: cancel.Token), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "stopped within one item's decoding");
    }

    [Test]
    public void AVaeDecoderCallIsCancelledByTheToken()
    {
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        var shape = new TensorShape(2, 4, 8, 8);
        Assert.That(() => SdFixture.Model.VaeDecoder.Decode(new float[shape.Length], shape, cancel.Token), Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public void AMillionCharacterWordTokenizesInLinearTime()
    {
        var tokenizer = ClipTokenizer.FromFolder(TokenizerFolders.Clip);
        var word = string.Concat(Enumerable.Repeat("abcdefghijklmnopqrstuvwxyz", 1_000_000 / 26));
        var clock = Stopwatch.StartNew();
        var ids = tokenizer.Encode(word);
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(3)), "was 67–90 s: the whole word went through the BPE before 75 ids were kept");
        Assert.That(ids, Has.Length.EqualTo(77));

        // Where the word is cut before the BPE, the ids kept are those of the whole word.
        foreach (var text in new[] { string.Concat(Enumerable.Repeat("photograph", 400)), string.Concat(Enumerable.Repeat("zq", 3000)), new string('a', 5000) + " and more words" })
            Assert.That(tokenizer.Encode(text)[1..76], Is.EqualTo(tokenizer.Tokenize(text).Take(75).ToArray()), text[..20]);
    }

    // Cancels the run's token once it has served a number of prompts.
    private sealed class CancellingTokenizer(IPromptTokenizer inner, CancellationTokenSource cancel, int after) : IPromptTokenizer
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public int ModelMaxLength => inner.ModelMaxLength;

        public int[] Encode(string text)
        {
            if (Interlocked.Increment(ref _calls) == after) cancel.Cancel();
            return inner.Encode(text);
        }
    }
}
