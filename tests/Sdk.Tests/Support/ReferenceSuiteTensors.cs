namespace Diffusion.Sdk.Tests.Support;

/// <summary>
/// The deterministic tensors of the reference's own scheduler test suite: <c>torch.arange(n)</c> reshaped to
/// (C, H, W, N), divided by n and permuted to (N, C, H, W) (the sample), and the same ramp flipped (the noise), in
/// float32 as torch makes them.
/// </summary>
public static class ReferenceSuiteTensors
{
    /// <summary>The suite's batch, channels and side: 4×3×8×8.</summary>
    public const int Batch = 4, Channels = 3, Size = 8, Length = Batch * Channels * Size * Size;

    /// <summary><c>dummy_sample_deter</c>.</summary>
    public static float[] Sample() => Ramp(flip: false);

    /// <summary><c>dummy_noise_deter</c>.</summary>
    public static float[] Noise() => Ramp(flip: true);

    private static float[] Ramp(bool flip)
    {
        var values = new float[Length];
        for (var b = 0; b < Batch; b++)
            for (var c = 0; c < Channels; c++)
                for (var p = 0; p < Size * Size; p++)
                {
                    var source = (c * Size * Size + p) * Batch + b;
                    values[(b * Channels + c) * Size * Size + p] = (float)((flip ? Length - 1 - source : source) / (double)Length);
                }
        return values;
    }
}
