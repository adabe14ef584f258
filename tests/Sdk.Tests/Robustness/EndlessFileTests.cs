using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Lora.SafeTensors;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.StableDiffusion;
using Diffusion.Sdk.Tokenizers;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>
/// A file a user hands in may be a device that never ends (<c>/dev/zero</c>) or far larger than such a file can be:
/// every reader of user files stops at its limit with its typed error, instead of reading until memory runs out and
/// the process dies. Before, <c>--init-image /dev/zero</c> grew the process until it was killed.
/// </summary>
[TestFixture]
[Platform(Include = "Linux,MacOsX", Reason = "/dev/zero")]
public sealed class EndlessFileTests
{
    private const string Zero = "/dev/zero";

    [Test]
    public void TheBoundedReaderStopsOneChunkPastItsLimit()
    {
        var error = Assert.Throws<InvalidDataException>(() => BoundedFile.ReadAllBytes(Zero, 1 << 20, problem => new InvalidDataException(problem)));
        Assert.That(error!.Message, Does.Contain("more than the 1 MiB").And.Contain("/dev/zero"));
    }

    [Test]
    public void ARegularFileOverTheLimitIsRefusedWithoutReadingIt()
    {
        var file = Path.GetTempFileName();
        try
        {
            using (var stream = File.OpenWrite(file)) stream.SetLength(3L << 20);
            var error = Assert.Throws<InvalidDataException>(() => BoundedFile.ReadAllBytes(file, 1 << 20, problem => new InvalidDataException(problem)));
            Assert.That(error!.Message, Does.Contain("it is 3 MiB, more than the 1 MiB"));
            Assert.That(BoundedFile.ReadAllBytes(file, 3L << 20, problem => new InvalidDataException(problem)), Has.Length.EqualTo(3 << 20), "exactly the limit is read");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void AMissingFileIsTheCallersTypedError()
    {
        var error = Assert.Throws<InvalidImageException>(() => StableDiffusionImages.ReadFile("/nonexistent/start.png", "--init-image"));
        Assert.That(error!.Message, Does.Contain("--init-image /nonexistent/start.png: it could not be read"));
    }

    [Test]
    public void TextSkipsAByteOrderMark()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(file, [0xEF, 0xBB, 0xBF, (byte)'{', (byte)'}']);
            Assert.That(BoundedFile.ReadAllText(file, 16, problem => new InvalidDataException(problem)), Is.EqualTo("{}"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void EachReaderOfUserFilesRefusesAnEndlessOne()
    {
        Assert.Throws<InvalidImageException>(() => StableDiffusionImages.ReadFile(Zero, "start image"));
        Assert.Throws<SchedulerConfigException>(() => SchedulerConfigJson.Load(Zero));
        Assert.Throws<SafeTensorsException>(() => SafeTensorsFile.Open(Zero, 64 << 20), "the default limit is 2 GiB: the same code, at a size a test can afford");
        var folder = Directory.CreateTempSubdirectory("endless-tokenizer-").FullName;
        try
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(SdFixture.ModelFolder, "tokenizer"))) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            File.Delete(Path.Combine(folder, "merges.txt"));
            File.CreateSymbolicLink(Path.Combine(folder, "merges.txt"), Zero);
            var error = Assert.Throws<TokenizerException>(() => ClipTokenizer.FromFolder(folder));
            Assert.That(error!.Message, Does.Contain("merges.txt").And.Contain("64 MiB"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public async Task OnTheCommandLineAnEndlessStartImageFailsBeforeTheModelLoads()
    {
        var folder = Directory.CreateTempSubdirectory("endless-cli-").FullName;
        try
        {
            var (code, _, error) = await Cli.Run(["--model", SdFixture.ModelFolder, "--prompt", "a cat", "--steps", "1", "--width", "32", "--height", "32",
                "--init-image", Zero, "--out", Path.Combine(folder, "cat.png")]);
            Assert.That(code, Is.EqualTo(2), error);
            Assert.That(error, Does.Contain("--init-image /dev/zero").And.Contain("256 MiB"));
            Assert.That(Directory.EnumerateFileSystemEntries(folder), Is.Empty, "nothing written");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
