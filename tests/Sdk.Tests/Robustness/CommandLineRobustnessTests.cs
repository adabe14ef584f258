using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.Robustness;

/// <summary>
/// Bad and hostile input through the command line: each is refused with its exit code and one line that names the
/// option, before any sampling starts, and nothing on disk changes (an existing file keeps its bytes).
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class CommandLineRobustnessTests
{
    private string _dir = "";
    private SortedDictionary<string, string> _before = new();

    [SetUp]
    public void CreateFolder()
    {
        _dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "robust-cli-" + Guid.NewGuid().ToString("N"))).FullName;
        File.WriteAllBytes(Path.Combine(_dir, "keep.png"), [1, 2, 3]);
        Directory.CreateDirectory(Path.Combine(_dir, "set", "002.png")); // a folder where an image would go
        File.WriteAllBytes(Path.Combine(_dir, "set", "000.png"), [4, 5, 6]);
        _before = Cli.Snapshot(_dir);
    }

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_dir, recursive: true);

    private static readonly string LongName = new string('a', 300) + ".png";

    // {dir} is the test's folder (holding keep.png, and set/ with 000.png and a folder named 002.png).
    private static readonly object[][] BadArguments =
    [
        ["--steps", "0"], ["--steps", "-5"], ["--steps", "abc"], ["--steps", "100000"],
        ["--batch", "0"], ["--batch", "-1"], ["--batch", "99999999999"],
        ["--columns", "0"], ["--columns", "100000000"],
        ["--guidance", "-1"], ["--guidance", "1e30"], ["--guidance", "NaN"], ["--guidance-rescale", "2"],
        ["--temperature", "0"], ["--temperature", "-1"], ["--temperature", "Infinity"],
        ["--noise-injection", "1e30"], ["--noise-injection", "-1"], ["--eta", "1e6"], ["--eta", "-0.5"],
        ["--sampler", "nope"], ["--sampler", " "], ["--label", "x"], ["--label", "42"], ["--label", "-1"],
        ["--device", "tpu"], ["--bogus", "1"], ["--seed", "-1"], ["--model", "/nonexistent/model"], ["--prediction-type", "noise"],
        ["--num-train-timesteps", "2000000000"], ["--num-train-timesteps", "0"], ["--sample-input", "nope"],
        ["--plugins", "{dir}/keep.png"], ["--plugins", "{dir}/absent"],
    ];

    [TestCaseSource(nameof(BadArguments))]
    public async Task ABadOptionExitsWith2AndOneLineNamingItBeforeAnyWork(string option, string value)
    {
        var args = new Dictionary<string, string> { ["--batch"] = "2", ["--steps"] = "2", ["--out"] = Path.Combine(_dir, "grid.png") };
        args[option] = value.Replace("{dir}", _dir);
        var (code, output, error) = await Cli.Run([.. args.SelectMany(a => new[] { a.Key, a.Value })]);
        Assert.That(code, Is.EqualTo(2), error);
        Cli.AssertOneLineError(error, MentionFor(option, value));
        Assert.That(output, Does.Not.Contain("step 1/"), "no sampling started");
        Assert.That(Cli.Snapshot(_dir), Is.EqualTo(_before), "nothing written or changed");
    }

    // What the line must name: the option, or for errors found in the model's configuration, its key.
    private static string MentionFor(string option, string value) => (option, value) switch
    {
        ("--num-train-timesteps", _) => "num_train_timesteps",
        ("--sampler", "nope") => "nope",
        ("--bogus", _) => "--bogus",
        ("--sample-input", _) => "nope",
        ("--model", _) => "/nonexistent/model",
        _ => option,
    };

    private static readonly object[][] BadBatches = [["3000000"], ["2147483647"], ["5478275"]];

    [TestCaseSource(nameof(BadBatches))]
    public async Task AHugeBatchIsRefusedAgainstTheMachinesMemoryWithoutOverflow(string batch)
    {
        var (code, _, error) = await Cli.Run("--batch", batch, "--steps", "1", "--out-dir", Path.Combine(_dir, "huge"));
        Assert.That(code, Is.EqualTo(2), error);
        Cli.AssertOneLineError(error, "--batch", batch, "on this machine");
        Assert.That(Cli.Snapshot(_dir), Is.EqualTo(_before));
    }

    private static readonly object[][] BadPaths =
    [
        [new[] { "--out", "{dir}/grid.txt" }, "--out"],
        [new[] { "--out", "" }, "--out"],
        [new[] { "--out", "{dir}/set/002.png" }, "is a folder"],
        [new[] { "--out", "/proc/robust-nope/x.png" }, "cannot be written"],
        [new[] { "--out", "{dir}/" + LongName }, "255"],
        [new[] { "--out", "{dir}/keep.png/x.png" }, "is a file"],
        [new[] { "--out", "{dir}/x.png", "--out-dir", "{dir}/x.png" }, "--out-dir"],
        [new[] { "--out-dir", "" }, "--out-dir"],
        [new[] { "--out-dir", "{dir}/keep.png" }, "is a file"],
        [new[] { "--out-dir", "{dir}/set" }, "002.png"],
        [new[] { "--out-dir", "/proc/robust-nope" }, "cannot be written"],
        [new[] { "--out-dir", "{dir}/" + new string('d', 300) }, "255"],
        [new[] { "--out", "{dir}/d/000.png", "--out-dir", "{dir}/d" }, "000.png"],
        [Array.Empty<string>(), "--out"],
    ];

    [TestCaseSource(nameof(BadPaths))]
    public async Task AnUnusableOutputPathIsRefusedBeforeSampling(string[] paths, string mention)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (code, output, error) = await Cli.Run([.. paths.Select(p => p.Replace("{dir}", _dir)), "--steps", "2", "--batch", "4"]);
        Assert.That(code, Is.EqualTo(2), error);
        Cli.AssertOneLineError(error, mention);
        Assert.That(output, Does.Not.Contain("step 1/"), "refused before sampling");
        Assert.That(Cli.Snapshot(_dir), Is.EqualTo(_before), "the existing set and files are untouched");
    }

    [Test]
    public async Task AnOptionMissingItsValueIsNamedNotTheNextValue()
    {
        var (code, _, error) = await Cli.Run("--steps", "--out", Path.Combine(_dir, "a.png"));
        Assert.That(code, Is.EqualTo(2));
        Cli.AssertOneLineError(error, "--steps");
        Assert.That(error, Does.Not.Contain("Unrecognized"));
    }

    [Test]
    public async Task KarrasWithPndmNamesTheFlag()
    {
        var (code, _, error) = await Cli.Run("--sampler", "pndm", "--karras", "--steps", "2", "--batch", "1", "--out", Path.Combine(_dir, "a.png"));
        Assert.That(code, Is.EqualTo(2));
        Cli.AssertOneLineError(error, "--karras", "pndm");
    }

    [Test]
    public async Task ALabelOutsideTheModelsClassesNamesTheRangeWithoutAParameterSuffix()
    {
        var (_, _, error) = await Cli.Run("--label", "42", "--steps", "1", "--batch", "1", "--out", Path.Combine(_dir, "a.png"));
        Cli.AssertOneLineError(error, "--label", "42", "0 to 9");
    }

    [Test]
    public async Task AnImageSetReplacesTheOldOneWholeAndKeepsUnrelatedFiles()
    {
        var set = Path.Combine(_dir, "fresh");
        Directory.CreateDirectory(set);
        File.WriteAllBytes(Path.Combine(set, "000.png"), [9]);
        File.WriteAllBytes(Path.Combine(set, "notes.txt"), [7]);
        var (code, _, error) = await Cli.Run("--steps", "1", "--batch", "3", "--label", "4", "--out-dir", set);
        Assert.That(code, Is.Zero, error);
        Assert.That(Directory.GetFiles(set).Select(Path.GetFileName).Order(), Is.EqualTo(new[] { "000.png", "001.png", "002.png", "notes.txt" }));
        Assert.That(File.ReadAllBytes(Path.Combine(set, "000.png")).Take(4), Is.EqualTo(new byte[] { 137, 80, 78, 71 }));
        Assert.That(File.ReadAllBytes(Path.Combine(set, "notes.txt")), Is.EqualTo(new byte[] { 7 }));
        Assert.That(Directory.GetDirectories(_dir).Select(Path.GetFileName).Where(n => n!.StartsWith('.')), Is.Empty, "no staging folder left");
    }

    [Test]
    public void CancellingWhileTheSetIsWrittenWritesNothingAndSaysSo()
    {
        var set = Path.Combine(_dir, "set");
        var settings = new Generate.GenerateSettings { ModelPath = Generate.GenerateCommand.DefaultModel, OutDir = set, Out = Path.Combine(_dir, "grid.png"), Batch = 50 };
        var shape = new Diffusion.Sdk.Abstractions.TensorShape(50, 1, 28, 28);
        var result = new Diffusion.Sdk.Pipeline.GenerationResult
        {
            Latents = new float[shape.Length], Shape = shape, SamplerName = "ddim", Timesteps = [1.0], ModelEvaluations = 1, Elapsed = TimeSpan.Zero,
        };
        using var cancel = new CancellationTokenSource();
        cancel.Cancel(); // Ctrl-C arrived as the writing began
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        var (oldOut, oldError) = (Console.Out, Console.Error);
        Console.SetOut(stdout);
        Console.SetError(stderr);
        int code;
        try
        {
            code = Generate.Runner.Write(settings with { OutDir = Path.Combine(_dir, "new-set") }, result, null, cancel.Token);
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldError);
        }
        Assert.That(code, Is.EqualTo(130));
        Cli.AssertOneLineError(stderr.ToString(), "cancelled", "nothing was written");
        Assert.That(Cli.Snapshot(_dir), Is.EqualTo(_before));
    }
}
