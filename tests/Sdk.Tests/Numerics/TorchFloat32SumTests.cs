using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Tests.Numerics;

/// <summary>
/// <see cref="TorchFloat32Sum"/> against torch 1.13's CPU float32 <c>sum</c> (AVX2 dispatch, one thread), recorded as
/// bit patterns for x[i] = float32(((7919·i) mod 1000 − 500) / 37), a sequence both sides compute exactly. The lengths
/// cover the one-value-wide path (&lt; 8), the vector tail, and one to three cascade levels.
/// </summary>
[TestFixture]
public sealed class TorchFloat32SumTests
{
    [TestCase(0, 0u)]
    [TestCase(1, 3243784026u)]
    [TestCase(5, 1100296302u)]
    [TestCase(7, 1101840827u)]
    [TestCase(8, 1100891440u)]
    [TestCase(9, 1098680927u)]
    [TestCase(31, 1102350946u)]
    [TestCase(100, 3251464138u)]
    [TestCase(129, 3234601896u)]
    [TestCase(2464, 3247864969u)]
    [TestCase(4928, 3263168505u)]
    [TestCase(7392, 3265464040u)]
    [TestCase(33001, 3286612684u)]
    [TestCase(300001, 3313383694u)]
    public void MatchesTorchBitForBit(int length, uint torchBits)
    {
        var x = new float[length];
        for (var i = 0; i < length; i++) x[i] = (float)(((i * 7919L) % 1000 - 500) / 37.0);
        Assert.That(BitConverter.SingleToUInt32Bits(TorchFloat32Sum.Sum(x)), Is.EqualTo(torchBits));
        Assert.That(TorchFloat32Sum.Mean(x), Is.EqualTo(length == 0 ? float.NaN : TorchFloat32Sum.Sum(x) / length));
    }
}
