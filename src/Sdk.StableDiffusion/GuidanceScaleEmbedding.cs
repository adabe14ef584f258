namespace Diffusion.Sdk.StableDiffusion;

/// <summary>
/// The guidance-scale embedding that a guidance-distilled UNet (LCM) takes as its <c>timestep_cond</c> input instead of
/// running classifier-free guidance: the sinusoidal features of w·1000 (Meng et al. 2023, "On Distillation of Guided
/// Diffusion Models"; the VDM timestep embedding), with w = guidance scale − 1 because the reference's pipelines take
/// the Imagen form of the scale (1 = no guidance) while the distillation used the LCM paper's (0 = none).
/// </summary>
/// <remarks>
/// Computed in float32 with the reference's operation order: f_i = exp(i · −(ln 10000 / (h − 1))) for i &lt; h = d / 2,
/// e_i = 1000·w·f_i, the row [sin e_0 … sin e_{h−1}, cos e_0 … cos e_{h−1}] and one zero column when d is odd. The
/// arguments reach 1000·w rad (7,000 for w = 7), where one unit in the last place of f moves sin and cos by up to
/// ~5e-4: implementations of <c>exp</c> that differ in the last bit (torch's vectorised one and .NET's) give embeddings
/// that differ by that much, well inside what the UNet's time MLP resolves.
/// </remarks>
public static class GuidanceScaleEmbedding
{
    /// <summary>The UNet input that takes the embedding (diffusers' <c>timestep_cond</c>).</summary>
    public const string InputName = "timestep_cond";

    /// <summary>The embedding of one guidance scale, <paramref name="dimension"/> values.</summary>
    /// <param name="guidanceScale">The guidance scale as the reference's pipelines take it (w + 1; 1 means no guidance).</param>
    /// <param name="dimension">The UNet's <c>time_cond_proj_dim</c>: the width of its <c>timestep_cond</c> input.</param>
    /// <exception cref="ArgumentOutOfRangeException">The dimension is below 4 (the frequencies need two or more per half) or the scale is not finite.</exception>
    public static float[] Create(double guidanceScale, int dimension)
    {
        var row = new float[dimension >= 0 ? dimension : 0];
        Write(guidanceScale, dimension, row);
        return row;
    }

    /// <summary>Writes the embedding of <paramref name="guidanceScale"/> into <paramref name="destination"/> (<paramref name="dimension"/> values).</summary>
    /// <param name="guidanceScale">The guidance scale as the reference's pipelines take it (w + 1; 1 means no guidance).</param>
    /// <param name="dimension">The UNet's <c>time_cond_proj_dim</c>: the width of its <c>timestep_cond</c> input.</param>
    /// <param name="destination">Receives the row.</param>
    public static void Write(double guidanceScale, int dimension, Span<float> destination)
    {
        if (dimension < 4)
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "The guidance embedding needs a width of at least 4 (time_cond_proj_dim).");
        if (!double.IsFinite(guidanceScale))
            throw new ArgumentOutOfRangeException(nameof(guidanceScale), guidanceScale, "The guidance scale must be finite.");
        if (destination.Length < dimension)
            throw new ArgumentException($"The destination holds {destination.Length} values; the embedding has {dimension}.", nameof(destination));

        // As the reference: w is a float32 tensor of (scale − 1), times 1000 in float32.
        var w = (float)(guidanceScale - 1) * 1000f;
        var half = dimension / 2;
        var step = MathF.Log(10000f) / (half - 1);
        for (var i = 0; i < half; i++)
        {
            var frequency = MathF.Exp(i * -step);
            var argument = w * frequency;
            destination[i] = MathF.Sin(argument);
            destination[half + i] = MathF.Cos(argument);
        }
        if (dimension % 2 == 1) destination[dimension - 1] = 0f;
    }
}
