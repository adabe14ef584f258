namespace Diffusion.Sdk.Tests.Support;

/// <summary>A writable copy of a model folder under the temp folder, for tests that break one file; deleted on dispose.</summary>
public sealed class ModelFolderCopy : IDisposable
{
    public ModelFolderCopy(string source)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "model-copy-" + Guid.NewGuid().ToString("N"));
        foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
        {
            var to = System.IO.Path.Combine(Path, System.IO.Path.GetRelativePath(source, file));
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(to)!);
            File.Copy(file, to);
            File.SetAttributes(to, FileAttributes.Normal);
        }
    }

    /// <summary>The copy's root.</summary>
    public string Path { get; }

    /// <summary>A path inside the copy.</summary>
    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    /// <summary>Replaces <paramref name="relative"/> with a copy of <paramref name="file"/>.</summary>
    public void Replace(string relative, string file)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(this[relative])!);
        File.Copy(file, this[relative], overwrite: true);
        File.SetAttributes(this[relative], FileAttributes.Normal);
    }

    /// <summary>Sets the top-level JSON key <paramref name="key"/> of <paramref name="relative"/> to the raw JSON <paramref name="rawValue"/> (the file is created when missing).</summary>
    public void SetJson(string relative, string key, string rawValue)
    {
        var node = File.Exists(this[relative]) ? System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(this[relative]))!.AsObject() : [];
        node[key] = System.Text.Json.Nodes.JsonNode.Parse(rawValue);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(this[relative])!);
        File.WriteAllText(this[relative], node.ToJsonString());
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
