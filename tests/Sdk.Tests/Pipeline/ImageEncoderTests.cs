using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using Diffusion.Sdk.Pipeline;

namespace Diffusion.Sdk.Tests.Pipeline;

[TestFixture]
public sealed class ImageEncoderTests
{
    private static readonly byte[] PngSignature = [137, 80, 78, 71, 13, 10, 26, 10];

    private static (int Width, int Height) Dimensions(byte[] png) =>
        (System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));

    [Test]
    public void PixelsMapMinusOneToZeroAndOneTo255AndClamp()
    {
        var shape = new TensorShape(1, 1, 1, 5);
        Assert.That(ImageEncoder.ToPixels(new float[] { -1f, 0f, 1f, -3f, 7f }, shape, 0), Is.EqualTo(new byte[] { 0, 128, 255, 0, 255 }));
    }

    [Test]
    public void ChannelsAreInterleaved()
    {
        var shape = new TensorShape(1, 3, 1, 2);
        // planes: R = [1, −1], G = [−1, 1], B = [0, 0]
        Assert.That(ImageEncoder.ToPixels(new float[] { 1, -1, -1, 1, 0, 0 }, shape, 0), Is.EqualTo(new byte[] { 255, 0, 128, 0, 255, 128 }));
    }

    [Test]
    public void PngAndGridHaveTheirDimensionsAndAreDeterministic()
    {
        var shape = new TensorShape(5, 1, 28, 28);
        var data = Enumerable.Range(0, shape.Length).Select(i => MathF.Sin(i * 0.01f)).ToArray();
        var one = ImageEncoder.EncodePng(data, shape, 3);
        var grid = ImageEncoder.EncodeGridPng(data, shape, columns: 3, padding: 2);
        Assert.Multiple(() =>
        {
            Assert.That(one.Take(8), Is.EqualTo(PngSignature));
            Assert.That(Dimensions(one), Is.EqualTo((28, 28)));
            Assert.That(Dimensions(grid), Is.EqualTo((3 * 28 + 4 * 2, 2 * 28 + 3 * 2)));
            Assert.That(ImageEncoder.EncodeGridPng(data, shape, columns: 3, padding: 2), Is.EqualTo(grid), "same input, same bytes");
        });
    }

    [Test]
    public void LatentsThatAreNotImagesAreRefused() =>
        Assert.Throws<ArgumentException>(() => ImageEncoder.EncodePng(new float[2 * 4], new TensorShape(1, 2, 2, 2), 0));

    [Test]
    public void AtomicWritesLeaveOnlyTheFinishedFile()
    {
        var folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "png-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var path = Path.Combine(folder, "sub", "out.png");
            ImageEncoder.WriteAtomically(path, [1, 2, 3]);
            ImageEncoder.WriteAtomically(path, [4, 5]);
            Assert.That(File.ReadAllBytes(path), Is.EqualTo(new byte[] { 4, 5 }));
            Assert.That(Directory.GetFiles(Path.Combine(folder, "sub")), Has.Length.EqualTo(1));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
