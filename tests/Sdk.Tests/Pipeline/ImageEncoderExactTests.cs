using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Pipeline;

namespace Diffusion.Sdk.Tests.Pipeline;

/// <summary>
/// The image encoder pixel by pixel: the byte of every value by the formula round((clamp(v, −1, 1) + 1)·127.5),
/// halves away from zero; grids laid out cell by cell; the limits it refuses. Grids are compared as PNG bytes with
/// the PNG of the pixels the test lays out itself (the same PNG writer, so equal bytes mean equal pixels).
/// </summary>
[TestFixture]
public sealed class ImageEncoderExactTests
{
    /// <summary>(clamp(v, −1, 1) + 1)·127.5 in float32, as the encoder scales (so halves stay halves).</summary>
    private static float Scaled(float v) => (float)((float)(Math.Min(Math.Max((double)v, -1), 1) + 1) * 127.5);

    /// <summary>The byte of one value: [−1, 1] → [0, 255], halves away from zero, NaN → 0.</summary>
    private static byte Expected(float v)
    {
        if (float.IsNaN(v)) return 0;
        var scaled = (double)Scaled(v);
        var floor = Math.Floor(scaled);
        return (byte)(scaled - floor >= 0.5 ? floor + 1 : floor);
    }

    private static float[] Ramp(TensorShape shape) =>
        Enumerable.Range(0, shape.Length).Select(i => MathF.Sin(i * 0.37f) * 1.2f).ToArray();

    /// <summary>Float32 values whose scaled value is exactly k + ½ (searched within 64 ulps of −1 + (k + ½)/127.5), for every k that has one.</summary>
    private static List<(int K, float Value)> Halves()
    {
        var found = new List<(int, float)>();
        for (var k = 0; k < 255; k++)
        {
            var start = -1f + (k + 0.5f) / 127.5f;
            float up = start, down = start;
            for (var step = 0; step < 64; step++, up = MathF.BitIncrement(up), down = MathF.BitDecrement(down))
            {
                if (Scaled(up) == k + 0.5f) { found.Add((k, up)); break; }
                if (Scaled(down) == k + 0.5f) { found.Add((k, down)); break; }
            }
        }
        return found;
    }

    [Test]
    public void EveryValueMapsByTheFormulaAndHalvesRoundAwayFromZero()
    {
        // Exact halves round up: k + ½ → k + 1 (to even would give k for even k); values outside [−1, 1] clamp; NaN is 0.
        var halves = Halves();
        Assert.That(halves.Count(h => h.K % 2 == 0), Is.GreaterThanOrEqualTo(3), "enough halves where rounding to even would differ");
        float[] values = [.. halves.Select(h => h.Value), 0f, 0.25f, -0.999f, 0.999f, 1.5f, -7f, float.NaN, float.PositiveInfinity, float.NegativeInfinity];
        var shape = new TensorShape(1, 1, 1, values.Length);
        var pixels = ImageEncoder.ToPixels(values, shape, 0);
        for (var i = 0; i < values.Length; i++)
            Assert.That(pixels[i], Is.EqualTo(Expected(values[i])), $"value {values[i]:R}");
        Assert.That(pixels[..halves.Count], Is.EqualTo(halves.Select(h => (byte)(h.K + 1))), "halves round away from zero");
        Assert.That(pixels[halves.Count..], Is.EqualTo(new byte[] { 128, 159, 0, 255, 255, 0, 0, 255, 0 }), "0 is mid-grey; clamped; NaN is black");
    }

    [TestCase(1)]
    [TestCase(3)]
    [TestCase(4)]
    public void PixelsOfEveryItemAreInterleavedByChannel(int channels)
    {
        var shape = new TensorShape(3, channels, 2, 3);
        var data = Ramp(shape);
        var plane = shape.Height * shape.Width;
        for (var b = 0; b < shape.Batch; b++)
        {
            var pixels = ImageEncoder.ToPixels(data, shape, b);
            Assert.That(pixels, Has.Length.EqualTo(channels * plane));
            for (var p = 0; p < plane; p++)
                for (var c = 0; c < channels; c++)
                    Assert.That(pixels[p * channels + c], Is.EqualTo(Expected(data[b * shape.ItemLength + c * plane + p])), $"item {b}, pixel {p}, channel {c}");
        }
    }

    [Test]
    public void ItemsAndLengthsOutsideTheShapeAreRefused()
    {
        var shape = new TensorShape(2, 1, 2, 2);
        var data = Ramp(shape);
        Assert.Multiple(() =>
        {
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => ImageEncoder.ToPixels(data, shape, -1))!.ParamName, Is.EqualTo("index"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => ImageEncoder.ToPixels(data, shape, 2))!.ParamName, Is.EqualTo("index"));
            Assert.That(ImageEncoder.ToPixels(data, shape, 1), Has.Length.EqualTo(4), "the last item is valid");
            var e = Assert.Throws<ArgumentException>(() => ImageEncoder.ToPixels(data.AsSpan(1).ToArray(), shape, 0))!;
            Assert.That(e.Message, Does.Contain("7 values"));
            var channels = Assert.Throws<ArgumentException>(() => ImageEncoder.ToPixels(new float[2 * 2 * 4], new TensorShape(2, 2, 2, 2), 0))!;
            Assert.That(channels.Message, Does.Contain("2 channels"));
        });
    }

    /// <summary>The grid laid out by hand: black background, item b at row b / columns, column b % columns.</summary>
    private static byte[] ExpectedGrid(float[] data, TensorShape shape, int columns, int padding, out int width, out int height)
    {
        var rows = (shape.Batch + columns - 1) / columns;
        width = columns * shape.Width + (columns + 1) * padding;
        height = rows * shape.Height + (rows + 1) * padding;
        var channels = shape.Channels;
        var plane = shape.Height * shape.Width;
        var grid = new byte[width * height * channels];
        for (var b = 0; b < shape.Batch; b++)
        {
            var left = padding + b % columns * (shape.Width + padding);
            var top = padding + b / columns * (shape.Height + padding);
            for (var y = 0; y < shape.Height; y++)
                for (var x = 0; x < shape.Width; x++)
                    for (var c = 0; c < channels; c++)
                        grid[((top + y) * width + left + x) * channels + c] = Expected(data[b * shape.ItemLength + c * plane + y * shape.Width + x]);
        }
        return grid;
    }

    [TestCase(5, 1, 3, 2, 4, 3)]
    [TestCase(5, 3, 2, 1, 3, 5)]
    [TestCase(7, 4, 3, 0, 2, 2)]
    [TestCase(2, 1, 5, 3, 3, 4)]
    public void AGridPlacesEveryItemInItsCell(int batch, int channels, int columns, int padding, int height, int width)
    {
        var shape = new TensorShape(batch, channels, height, width);
        var data = Ramp(shape);
        var expected = ExpectedGrid(data, shape, columns, padding, out var w, out var h);
        Assert.That(ImageEncoder.GridSize(shape, columns, padding), Is.EqualTo((w, h)));
        Assert.That(ImageEncoder.EncodeGridPng(data, shape, columns, padding), Is.EqualTo(ImageEncoder.EncodePixelsPng(expected, w, h, channels)));
    }

    [TestCase(1, 1)]
    [TestCase(4, 2)]
    [TestCase(5, 3)]
    [TestCase(10, 4)]
    public void TheDefaultGridIsTheSmallestSquareThatFits(int batch, int columns)
    {
        var shape = new TensorShape(batch, 1, 3, 2);
        var data = Ramp(shape);
        var expected = ExpectedGrid(data, shape, columns, 2, out var w, out var h);
        Assert.That(ImageEncoder.EncodeGridPng(data, shape), Is.EqualTo(ImageEncoder.EncodePixelsPng(expected, w, h, 1)));
    }

    [Test]
    public void GridSettingsAndSizesOutsideTheLimitsAreRefused()
    {
        var shape = new TensorShape(4, 1, 3, 3);
        var data = Ramp(shape);
        Assert.Multiple(() =>
        {
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => ImageEncoder.EncodeGridPng(data, shape, columns: 0))!.ParamName, Is.EqualTo("columns"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => ImageEncoder.EncodeGridPng(data, shape, padding: -1))!.ParamName, Is.EqualTo("padding"));
            Assert.Throws<ArgumentOutOfRangeException>(() => ImageEncoder.GridSize(shape, 0));
            // 65 536 pixels a side is the most a grid holds: one column of that width fits, one pixel more does not.
            Assert.That(ImageEncoder.GridSize(new TensorShape(1, 1, 1, 65_536 - 2), 1, 1), Is.EqualTo((65_536, 3)));
            Assert.Throws<ArgumentOutOfRangeException>(() => ImageEncoder.GridSize(new TensorShape(1, 1, 1, 65_536 - 1), 1, 1));
            Assert.That(ImageEncoder.GridSize(new TensorShape(1, 1, 65_536 - 2, 1), 1, 1), Is.EqualTo((3, 65_536)));
            Assert.Throws<ArgumentOutOfRangeException>(() => ImageEncoder.GridSize(new TensorShape(1, 1, 65_536 - 1, 1), 1, 1));
            // Both sides within the limit but too many bytes for one array: 60 000² pixels of 4 channels.
            var bytes = Assert.Throws<ArgumentOutOfRangeException>(() => ImageEncoder.GridSize(new TensorShape(1, 4, 60_000, 60_000), 1, 0))!;
            Assert.That(bytes.Message, Does.Contain("60000×60000"));
            Assert.That(ImageEncoder.GridSize(new TensorShape(1, 1, 40_000, 40_000), 1, 0), Is.EqualTo((40_000, 40_000)), "1.6 GB of grey fits in one array");
            Assert.Throws<ArgumentOutOfRangeException>(() => ImageEncoder.GridSize(new TensorShape(1, 3, 40_000, 40_000), 1, 0), "the same in RGB is three times as many bytes");
        });
    }

    [Test]
    public void PixelBuffersOfTheWrongSizeOrChannelsAreRefused()
    {
        Assert.Multiple(() =>
        {
            Assert.Throws<ArgumentNullException>(() => ImageEncoder.EncodePixelsPng(null!, 1, 1, 1));
            foreach (var channels in new[] { 0, 2, 5 })
            {
                var e = Assert.Throws<ArgumentOutOfRangeException>(() => ImageEncoder.EncodePixelsPng(new byte[4 * channels], 2, 2, channels))!;
                Assert.That((e.ParamName, e.ActualValue), Is.EqualTo(("channels", (object)channels)));
                Assert.That(e.Message, Does.Contain("1, 3 or 4 channels"));
            }
            foreach (var (width, height) in new[] { (1, 1), (1, 3), (3, 1) })
                Assert.That(ImageEncoder.EncodePixelsPng(new byte[width * height], width, height, 1), Is.Not.Empty, $"{width}×{height} is an image");
            foreach (var channels in new[] { 1, 3, 4 })
                Assert.That(ImageEncoder.EncodePixelsPng(new byte[6 * channels], 3, 2, channels), Is.Not.Empty, $"{channels} channels");
            Assert.That(Assert.Throws<ArgumentException>(() => ImageEncoder.EncodePixelsPng(new byte[5], 2, 3, 1))!.Message, Does.Contain("5 bytes are not 2×3 pixels of 1 channels"));
            Assert.Throws<ArgumentException>(() => ImageEncoder.EncodePixelsPng([], 0, 3, 1));
            Assert.Throws<ArgumentException>(() => ImageEncoder.EncodePixelsPng([], 3, 0, 1));
        });
    }
}
