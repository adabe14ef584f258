using Diffusion.Sdk.Onnx;
using Diffusion.Sdk.StableDiffusion;
using Diffusion.Sdk.Tests.Support;

namespace Diffusion.Sdk.Tests.StableDiffusion;

/// <summary>
/// The pieces of LCM and inpainting that the reference cases fix on their own: the guidance-scale embedding, the mask
/// processor (binarized condition, masked image, latent mask) and the UNet channel count read from the graph.
/// </summary>
[TestFixture]
public sealed class InpaintingBuildingBlocksTests
{
    [TestCaseSource(typeof(LcmFixture), nameof(LcmFixture.Cases))]
    public void TheGuidanceEmbeddingMatchesTheReference(string name)
    {
        var c = LcmFixture.Case(name);
        var recorded = c.Root.GetProperty("guidance_embedding");
        var dimension = recorded.GetProperty("time_cond_proj_dim").GetInt32();
        var w = recorded.GetProperty("w")[0].GetDouble();
        Assert.That(w, Is.EqualTo(c.GuidanceScale - 1), "w = guidance − 1");
        // sin/cos of arguments up to 1000·w rad: one ulp of exp moves them by ~5e-4 (the README's 1e-3).
        var ours = GuidanceScaleEmbedding.Create(c.GuidanceScale, dimension);
        var theirs = SdReferenceCase.Values(recorded.GetProperty("timestep_cond"));
        Tolerance.AssertClose(ours, Doubles(theirs), "timestep_cond", abs: 1e-3, rel: 0);
        TestContext.Out.WriteLine($"{name}: largest difference {ours.Zip(theirs, (a, b) => Math.Abs(a - b)).Max():g3}");
    }

    [Test]
    public void TheGuidanceEmbeddingPadsAnOddWidthAndIsZeroSinesForNoGuidance()
    {
        var odd = GuidanceScaleEmbedding.Create(3, 9);
        Assert.That(odd[8], Is.Zero, "the padding column");
        var none = GuidanceScaleEmbedding.Create(1, 8);        // w = 0: sin 0 = 0, cos 0 = 1
        Assert.That(none, Is.EqualTo(new float[] { 0, 0, 0, 0, 1, 1, 1, 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => GuidanceScaleEmbedding.Create(2, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => GuidanceScaleEmbedding.Create(double.NaN, 8));
    }

    [TestCaseSource(typeof(InpaintFixture), nameof(InpaintFixture.Cases))]
    public void TheMaskIsPreparedAsTheReferencePreparesIt(string name)
    {
        var c = InpaintFixture.Case(name);
        var inpaint = c.Root.GetProperty("inpaint");
        var mask = InpaintingMask.Decode(InpaintFixture.MaskPng(c), c.Width, c.Height);
        Assert.That(mask.Condition, Is.EqualTo(SdReferenceCase.Values(inpaint.GetProperty("mask_condition"))), "mask_condition (binarized at full resolution)");
        Assert.That(mask.Latent(8), Is.EqualTo(SdReferenceCase.Values(inpaint.GetProperty("mask_latent"))), "mask_latent (nearest: each block's top-left pixel)");

        var (rgb, w, h) = StableDiffusionImages.Decode(InpaintFixture.InputPng(c));
        var pixels = StableDiffusionImages.Preprocess(rgb, w, h);
        Tolerance.AssertClose(pixels, Doubles(SdReferenceCase.Values(inpaint.GetProperty("preprocessed_image"))), "preprocessed image", abs: 1e-6, rel: 0);
        Tolerance.AssertClose(mask.MaskImage(pixels), Doubles(SdReferenceCase.Values(inpaint.GetProperty("masked_image"))), "masked image", abs: 1e-6, rel: 0);
    }

    [Test]
    public void AMaskLumaFollowsPilAndBinarizesAt128()
    {
        // Grey levels keep their value; colours take PIL's rounded ITU-R 601-2 luma; 127 keeps, 128 repaints.
        byte[] rgb = [127, 127, 127, 128, 128, 128, 255, 0, 0, 0, 255, 0, 0, 0, 255, 200, 100, 50];
        var mask = InpaintingMask.FromRgb(rgb, 6, 1);
        // luma: 127, 128, 76, 150, 29, 124 (= (200·19595 + 100·38470 + 50·7471 + 32768) >> 16)
        Assert.That(mask.Condition, Is.EqualTo(new float[] { 0, 1, 0, 1, 0, 0 }));
    }

    [Test]
    public void TheUnetChannelsAreReadFromTheFirstConvolution()
    {
        // The legacy export leaves the sample's channels symbolic; conv_in.weight (in weights.pb, external) says 9.
        var inpaint = OnnxGraphShapes.Read(Path.Combine(InpaintFixture.ModelFolder, "unet", "model.onnx"));
        Assert.That(inpaint.InputChannels("sample"), Is.EqualTo(9));
        Assert.That(inpaint.OutputChannels("out_sample"), Is.EqualTo(4));
        var legacy = OnnxGraphShapes.Read(Path.Combine(SdFixture.ModelFolder, "unet", "model.onnx"));
        Assert.That(legacy.InputChannels("sample"), Is.EqualTo(4));
        var lcm = OnnxGraphShapes.Read(Path.Combine(LcmFixture.ModelFolder, "unet", "model.onnx"));   // weights inline
        Assert.That(lcm.InputChannels("sample"), Is.EqualTo(4));
        Assert.That(lcm.InputChannels("no such input"), Is.Null);
    }

    [Test]
    public void ResizingKeepsAFlatPictureFlatAndLeavesTheRightSizeAlone()
    {
        var flat = Enumerable.Repeat((byte)77, 10 * 6 * 3).ToArray();
        Assert.That(ImageResampling.Resize(flat, 10, 6, 24, 16), Is.All.EqualTo(77), "enlarged");
        Assert.That(ImageResampling.Resize(flat, 10, 6, 4, 2), Is.All.EqualTo(77), "shrunk");
        var ramp = Enumerable.Range(0, 8 * 8 * 3).Select(i => (byte)i).ToArray();
        Assert.That(ImageResampling.Resize(ramp, 8, 8, 8, 8), Is.EqualTo(ramp), "same size: untouched");
        var mask = InpaintingMask.Decode(File.ReadAllBytes(Path.Combine(InpaintFixture.Folder, "expected", "P1-inpaint9-rect-strength1-pndm-mask.png")), 128, 128);
        Assert.That(mask.Width, Is.EqualTo(128));
        Assert.That(mask.Condition.Count(v => v == 1), Is.EqualTo(4 * 40 * 24).Within(4 * (40 + 24) * 2), "the rectangle, doubled in each direction, edges within a pixel");
    }

    private static double[] Doubles(float[] values) => Array.ConvertAll(values, v => (double)v);
}
