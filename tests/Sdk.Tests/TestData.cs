using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
namespace Diffusion.Sdk.Tests;

/// <summary>Locates files copied from <c>TestData/</c> to the test output folder (works during test discovery too).</summary>
public static class TestData
{
    /// <summary>The test output's TestData folder.</summary>
    public static string Root { get; } = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(typeof(TestData).Assembly.Location)!, "TestData");

    /// <summary>A path below <see cref="Root"/>.</summary>
    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    /// <summary>The folder named by <c>DIFFUSION_REFERENCE_DIR</c>, when set: extra reference data to run as well.</summary>
    public static string? ExternalReferenceDirectory =>
        Environment.GetEnvironmentVariable("DIFFUSION_REFERENCE_DIR") is { Length: > 0 } dir ? dir : null;
}
