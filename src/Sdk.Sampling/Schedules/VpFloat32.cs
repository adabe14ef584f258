namespace Diffusion.Sdk.Sampling;

/// <summary>
/// The variance-preserving view of a σ table in the reference's float32 arithmetic, shared by the exponential
/// integrators (DPM-Solver multistep and single-step, DEIS, UniPC): α = 1/√(σ² + 1) and σ_t = σ·α, or α = 1 − σ and
/// σ_t = σ for flow σ, and λ = log α − log σ_t with torch's float32 log, each rounded where the reference's 0-dimensional
/// float32 tensors round.
/// </summary>
/// <remarks>
/// λ is not −log σ here: the reference takes the two logs of the rounded α and σ_t and subtracts, and its step sizes h
/// are differences of those λ. With many training steps (2000), Karras σ or a cosine schedule, neighbouring λ are close
/// and h differs from the double-precision value by 10⁻⁶ relative or more, which the step's e^{±h} − 1 and 1/r0
/// amplify past the reference vectors' tolerance.
/// </remarks>
public static class VpFloat32
{
    /// <summary>(α, σ_t) of a float32 σ: 1/√(σ² + 1) and σ·α, or 1 − σ and σ for flow σ.</summary>
    public static (float Alpha, float Sigma) AlphaSigma(float sigma, bool flow = false)
    {
        if (flow) return (1 - sigma, sigma);
        var alpha = 1 / MathF.Sqrt(sigma * sigma + 1);
        return (alpha, sigma * alpha);
    }

    /// <summary>λ = log α − log σ_t with torch's float32 log (+∞ where σ_t = 0).</summary>
    public static float Lambda(float alpha, float sigma) => ReferenceFloat32.TorchLog(alpha) - ReferenceFloat32.TorchLog(sigma);

    /// <summary>α, σ_t and λ of every entry of a σ table, the table itself rounded to float32 first.</summary>
    public static (float[] Sigmas, float[] Alphas, float[] SigmaTs, float[] Lambdas) Tables(IReadOnlyList<double> sigmas, bool flow = false)
    {
        ArgumentNullException.ThrowIfNull(sigmas);
        var n = sigmas.Count;
        float[] s = new float[n], alphas = new float[n], sigmaTs = new float[n], lambdas = new float[n];
        for (var i = 0; i < n; i++)
        {
            s[i] = (float)sigmas[i];
            (alphas[i], sigmaTs[i]) = AlphaSigma(s[i], flow);
            lambdas[i] = Lambda(alphas[i], sigmaTs[i]);
        }
        return (s, alphas, sigmaTs, lambdas);
    }

    /// <summary>σ_t = √((1 − ᾱ_t)/ᾱ_t) of a float32 ᾱ table, in float32 as the reference's tensors compute it.</summary>
    public static float[] TrainingSigmas(ReadOnlySpan<double> alphasCumprod)
    {
        var sigmas = new float[alphasCumprod.Length];
        for (var t = 0; t < sigmas.Length; t++)
        {
            var alphaBar = (float)alphasCumprod[t];
            sigmas[t] = MathF.Sqrt((1 - alphaBar) / alphaBar);
        }
        return sigmas;
    }

    /// <summary>
    /// The timestep the network is shown for each σ of a Karras or Lu (uniform-λ) table: the fractional timestep by
    /// the reference's float32 log-σ interpolation, rounded half to even, except on the cosine schedule
    /// (<c>squaredcos_cap_v2</c>), where the reference skips the rounding and its cast to integers truncates.
    /// </summary>
    public static double[] RoundedTimesteps(ReadOnlySpan<double> sigmas, float[] logSigmas, bool truncate)
    {
        var timesteps = new double[sigmas.Length];
        for (var i = 0; i < timesteps.Length; i++)
        {
            var t = ReferenceFloat32.SigmaToTimestep(sigmas[i], logSigmas);
            timesteps[i] = truncate ? Math.Truncate(t) : Math.Round(t, MidpointRounding.ToEven);
        }
        return timesteps;
    }
}
