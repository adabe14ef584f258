using Diffusion.Sdk.Fuzz;

// fuzz <target>                 run under AFL++ (afl-fuzz … -- dotnet Diffusion.Sdk.Fuzz.dll <target>); see README.md
// fuzz replay <target> <folder> run every file of a corpus in-process; exit 1 if any input is not refused cleanly
// fuzz list                     the targets
if (args is ["list"])
{
    foreach (var name in FuzzTargets.All.Keys) Console.WriteLine(name);
    return 0;
}
if (args is ["replay", var replayTarget, var folder] && FuzzTargets.All.TryGetValue(replayTarget, out var replay))
{
    var findings = 0;
    var files = Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal).ToArray();
    foreach (var file in files)
    {
        try { replay(File.ReadAllBytes(file)); }
        catch (Exception e) when (FuzzTargets.IsTypedRefusal(e)) { }
        catch (Exception e)
        {
            findings++;
            Console.WriteLine($"{file}: {e.GetType().Name}: {e.Message}");
        }
    }
    Console.WriteLine($"{replayTarget}: {files.Length} inputs, {findings} findings");
    return findings == 0 ? 0 : 1;
}
if (args is [var target] && FuzzTargets.All.TryGetValue(target, out var run))
{
    // Typed refusals are the contract; anything else escapes and AFL records a crash.
    SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        try { run(buffer.ToArray()); }
        catch (Exception e) when (FuzzTargets.IsTypedRefusal(e)) { }
    });
    return 0;
}
Console.Error.WriteLine($"usage: fuzz <target> | fuzz replay <target> <folder> | fuzz list (targets: {string.Join(", ", FuzzTargets.All.Keys)})");
return 2;
