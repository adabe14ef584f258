using Diffusion.Sdk.Lora.SafeTensors;

namespace Diffusion.Sdk.Tests.Lora;

/// <summary>The strict .safetensors reader: the fixture's files, every dtype it reads, and every way a header can lie.</summary>
[TestFixture]
public sealed class SafeTensorsReaderTests
{
    private static readonly byte[] K1 = File.ReadAllBytes(LoraFixture.K1);

    [Test]
    public void TheFixtureFilesParse()
    {
        var k1 = SafeTensorsHeader.Parse(K1, "k1");
        Assert.That(k1.Tensors, Has.Count.EqualTo(192));
        Assert.That(k1.Metadata["ss_network_dim"], Is.EqualTo("4"));
        var k2 = SafeTensorsFile.Open(LoraFixture.K2);
        Assert.That(k2.Header.Tensors.All(t => t.DType == SafeTensorsDType.Float16));
        var alpha = k2.Header.Tensors.First(t => t.Name.EndsWith(".alpha", StringComparison.Ordinal));
        Assert.That(alpha.Shape, Is.Empty, "alpha is 0-d");
        Assert.That(k2.ReadSingle(alpha), Is.EqualTo(new[] { 3f }), "K2's alpha, float16 widened exactly");
        Assert.That(SafeTensorsFile.Open(LoraFixture.P1).Header.Metadata, Does.ContainKey("lora_adapter_metadata"));
    }

    [TestCase("F32")]
    [TestCase("F16")]
    [TestCase("BF16")]
    [TestCase("F64")]
    public void FloatingDTypesReadAsFloat32(string dtype)
    {
        float[] values = [1f, -2.5f, 0.375f, 1024f, -0.0078125f, 0f];  // exact in every one of these types
        var file = SafeTensorsFile.FromBytes(SafeTensorsWriter.Build([new("x", values, [2, 3], dtype)]));
        Assert.That(file.ReadSingle("x"), Is.EqualTo(values));
    }

    [Test]
    public void ATruncatedFileIsATypedErrorNamingTheTensorItCuts()
    {
        var cut = K1[..^100];
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensorsHeader.Parse(cut, "k1-cut.safetensors"))!;
        Assert.That(e.FilePath, Is.EqualTo("k1-cut.safetensors"));
        Assert.That(e.Key, Is.Not.Null);
        Assert.That(e.Message, Does.Contain("truncated"));
        Assert.Throws<SafeTensorsException>(() => SafeTensorsHeader.Parse(K1[..5], "short"));
    }

    [Test]
    public void AHeaderLengthPastTheEndIsATypedError()
    {
        var bytes = SafeTensorsWriter.Raw("""{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[4], declaredLength: 1 << 20);
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensorsHeader.Parse(bytes, "f"))!;
        Assert.That(e.Message, Does.Contain("points past the end of the file"));
    }

    [TestCase("""{"x":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}""", "x", "unknown dtype 'Q4'", TestName = "unknown dtype")]
    [TestCase("""{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}""", "x", "is 8 bytes", TestName = "size is not dtype × shape")]
    [TestCase("""{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}""", "x", "is 4 bytes", TestName = "offsets span more than the shape")]
    [TestCase("""{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}""", "y", "overlaps tensor 'x'", 8, TestName = "overlapping tensors")]
    [TestCase("""{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", "x", "belong to no tensor", 8, TestName = "a gap before a tensor")]
    [TestCase("""{"x":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}""", "x", "ends before it begins", TestName = "reversed offsets")]
    [TestCase("""{"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}""", "x", "more elements than a file can hold", TestName = "a shape whose size overflows")]
    [TestCase("""{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", "x", "non-negative integer", TestName = "a negative dimension")]
    [TestCase("""{"x":{"dtype":"F32","shape":[1]}}""", "x", "missing data_offsets", TestName = "missing offsets")]
    [TestCase("""{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", "x", "appears twice", TestName = "a duplicate key")]
    [TestCase("""{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}""", null, "not valid JSON", TestName = "unterminated JSON")]
    [TestCase("""[1,2]""", null, "not a JSON object", TestName = "a header that is not an object")]
    [TestCase("""{"__metadata__":{"a":1},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", "__metadata__", "not a string", TestName = "metadata that is not a string")]
    [TestCase("""{"x":{"dtype":"F32","shape":[10],"data_offsets":[0,40]}}""", "x", "points past the end of the file", TestName = "data past the end")]
    public void ACorruptHeaderIsATypedErrorNamingTheKey(string header, string? key, string message, int dataBytes = 4)
    {
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensorsHeader.Parse(SafeTensorsWriter.Raw(header, new byte[dataBytes]), "bad.safetensors"))!;
        Assert.That(e.Key, Is.EqualTo(key));
        Assert.That(e.Message, Does.Contain(message).And.StartWith("bad.safetensors: "));
    }

    [Test]
    public void ANonFloatingTensorIsNotReadAsFloat()
    {
        var file = SafeTensorsFile.FromBytes(SafeTensorsWriter.Raw("""{"i":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}""", new byte[4]), "ints");
        var e = Assert.Throws<SafeTensorsException>(() => file.ReadSingle("i"))!;
        Assert.That(e.Key, Is.EqualTo("i"));
    }

    [Test]
    public void RandomlyDamagedFilesOnlyEverRaiseTheTypedError()
    {
        // What a fuzzer does, briefly: flip, cut and overwrite bytes of a real file (header included).
        var random = new Random(1234);
        var headerLength = (int)BitConverter.ToUInt64(K1, 0) + 8;
        for (var i = 0; i < 2000; i++)
        {
            var bytes = (byte[])K1.Clone();
            switch (i % 3)
            {
                case 0: bytes[random.Next(headerLength)] ^= (byte)(1 << random.Next(8)); break;
                case 1: bytes = bytes[..random.Next(bytes.Length)]; break;
                default: bytes[random.Next(headerLength)] = (byte)"{}[],:\"0123456789-e "[random.Next(20)]; break;
            }
            try
            {
                var file = SafeTensorsFile.FromBytes(bytes, "damaged");
                foreach (var t in file.Header.Tensors.Where(t => t.DType.IsReadAsFloat())) file.ReadSingle(t);
            }
            catch (SafeTensorsException)
            {
            }
        }
    }
}
