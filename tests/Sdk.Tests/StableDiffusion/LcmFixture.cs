namespace Diffusion.Sdk.Tests.StableDiffusion;

/// <summary>The LCM export of TestData/lcm-tiny-optimum (a UNet with <c>timestep_cond</c>) and its reference cases.</summary>
public static class LcmFixture
{
    public static string Folder { get; } = TestData.Path("lcm-tiny-optimum");

    public static string ModelFolder { get; } = Path.Combine(Folder, "model");

    public static IEnumerable<TestCaseData> Cases() =>
        SdReferenceCase.Files(Folder).Select(f => new TestCaseData(Path.GetFileNameWithoutExtension(f)).SetName(Path.GetFileNameWithoutExtension(f)));

    public static SdReferenceCase Case(string name) => SdReferenceCase.Load(Path.Combine(Folder, "expected", name + ".json"));
}

/// <summary>The inpainting export of TestData/sd-inpaint-tiny-legacy (a 9-channel UNet) and its reference cases, one of which runs sd-tiny-legacy's 4-channel model.</summary>
public static class InpaintFixture
{
    public static string Folder { get; } = TestData.Path("sd-inpaint-tiny-legacy");

    public static string ModelFolder { get; } = Path.Combine(Folder, "model");

    public static IEnumerable<TestCaseData> Cases() =>
        SdReferenceCase.Files(Folder).Select(f => new TestCaseData(Path.GetFileNameWithoutExtension(f)).SetName(Path.GetFileNameWithoutExtension(f)));

    public static SdReferenceCase Case(string name) => SdReferenceCase.Load(Path.Combine(Folder, "expected", name + ".json"));

    /// <summary>The model folder a case ran on (its <c>model</c> field, relative to the fixture).</summary>
    public static string ModelOf(SdReferenceCase c) => Path.GetFullPath(Path.Combine(Folder, c.Root.GetProperty("model").GetString()!));

    public static byte[] InputPng(SdReferenceCase c) => File.ReadAllBytes(Path.Combine(Folder, "expected", c.Inputs.GetProperty("image_png").GetString()!));

    public static byte[] MaskPng(SdReferenceCase c) => File.ReadAllBytes(Path.Combine(Folder, "expected", c.Inputs.GetProperty("mask_image_png").GetString()!));
}
