using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;

namespace Diffusion.Sdk.Samplers.KDiffusion;

/// <summary>The reference's arithmetic shared by the two KDPM2 samplers, in its precision.</summary>
internal static class KDiffusionMath
{
    /// <summary>
    /// exp(lerp(ln a, ln b, ½)) in float32, as the reference forms the midpoint of two noise levels
    /// (<c>a.log().lerp(b.log(), 0.5).exp()</c> with torch's own log and exp; its lerp at weight ½ is b − (b − a)·½):
    /// √(a·b) up to rounding. The rounding decides the midpoint's float32 timestep, which a step must be called with exactly.
    /// </summary>
    public static float GeometricMidpoint(float a, float b)
    {
        float logA = ReferenceFloat32.TorchLog(a), logB = ReferenceFloat32.TorchLog(b);
        return ReferenceFloat32.TorchExp(logB - (logB - logA) * 0.5f);
    }

    /// <summary>
    /// The timestep of each spaced σ as the KDPM2 samplers list it: Karras timesteps rounded half-to-even to integers,
    /// exponential and beta ones the double-precision fractional timestep (not rounded to float32).
    /// </summary>
    public static double[] Kdpm2Timesteps(double[] sigmas, SigmaSpacing spacing, float[] logTrainingSigmas)
    {
        var timesteps = new double[sigmas.Length];
        for (var i = 0; i < sigmas.Length; i++)
        {
            var t = ReferenceFloat32.SigmaToTimestep(sigmas[i], logTrainingSigmas);
            timesteps[i] = spacing == SigmaSpacing.Karras ? Math.Round(t) : t;
        }
        return timesteps;
    }
}
