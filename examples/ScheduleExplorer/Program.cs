// Schedule explorer: draws ᾱ_t, log-SNR, β_t and SNR over t for the SDK's noise schedules and tabulates their
// derived quantities. `--numerics` prints the float32 error table of the velocity/noise round trip instead.
//
//   dotnet run --project examples/ScheduleExplorer -c Release -- --karras --zero-snr
//   dotnet run --project examples/ScheduleExplorer -c Release -- --numerics
using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.CommandLine;
using System.Globalization;
using ScheduleExplorer;

var defaults = new ExplorerOptions();
var outOption = new Option<string>("--out") { Description = "Output folder.", DefaultValueFactory = _ => defaults.OutputDirectory };
var schedulesOption = new Option<string>("--schedules")
{
    Description = $"Comma-separated schedule names: {string.Join(", ", ScheduleCatalog.Names)}.",
    DefaultValueFactory = _ => string.Join(',', ScheduleCatalog.Names),
};
var karrasOption = new Option<bool>("--karras") { Description = "Also draw each schedule re-spaced with Karras sigmas (ρ = 7)." };
var zeroSnrOption = new Option<bool>("--zero-snr") { Description = "Also draw each schedule rescaled to zero terminal SNR." };
var timestepsOption = new Option<string?>("--timesteps")
{
    Description = "Comma-separated timesteps for the table (default: 0, T/100, T/10, T/2, T-1).",
};
var trainStepsOption = new Option<int>("--num-train-timesteps") { Description = "T, the number of training timesteps.", DefaultValueFactory = _ => defaults.NumTrainTimesteps };
var betaStartOption = new Option<double?>("--beta-start") { Description = "β_start for every interpolating schedule (default: each schedule's own)." };
var betaEndOption = new Option<double?>("--beta-end") { Description = "β_end for every interpolating schedule (default: each schedule's own)." };
var numericsOption = new Option<bool>("--numerics") { Description = "Print the ε → v → ε float32 error table of the 1000-step linear schedule (docs/numerics.md) and exit." };

var root = new RootCommand("Draws and tabulates diffusion noise schedules: ᾱ_t, log-SNR, β_t, SNR.")
{
    outOption, schedulesOption, karrasOption, zeroSnrOption, timestepsOption, trainStepsOption, betaStartOption, betaEndOption, numericsOption,
};
root.SetAction(parse =>
{
    if (parse.GetValue(numericsOption))
    {
        Console.Write(Explorer.NumericsMarkdown());
        return 0;
    }
    var options = new ExplorerOptions
    {
        OutputDirectory = parse.GetValue(outOption)!,
        Schedules = Split(parse.GetValue(schedulesOption)!),
        Karras = parse.GetValue(karrasOption),
        ZeroTerminalSnr = parse.GetValue(zeroSnrOption),
        Timesteps = parse.GetValue(timestepsOption) is { } list ? Split(list).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList() : null,
        NumTrainTimesteps = parse.GetValue(trainStepsOption),
        BetaStart = parse.GetValue(betaStartOption),
        BetaEnd = parse.GetValue(betaEndOption),
    };
    var output = Explorer.Run(options);
    Console.WriteLine($"wrote {output.Png}, {output.Svg}, {output.Csv}, {output.Markdown}");
    Console.Write(File.ReadAllText(output.Markdown));
    return 0;
});
return root.Parse(args).Invoke();

static List<string> Split(string list) => list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
