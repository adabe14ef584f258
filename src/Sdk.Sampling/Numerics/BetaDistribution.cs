namespace Diffusion.Sdk.Sampling;

/// <summary>
/// The Beta(α, β) distribution's quantile function, for Beta-spaced noise levels (the reference calls SciPy's
/// <c>scipy.stats.beta.ppf</c>). Written here so that the base every plugin references carries no numerics library.
/// </summary>
internal static class BetaDistribution
{
    /// <summary>
    /// The x in [0, 1] with I_x(α, β) = <paramref name="p"/>, where I is the regularized incomplete beta function:
    /// bisection on the monotone CDF, sped up by Newton steps that stay inside the bracket, to the last bits of a double.
    /// </summary>
    public static double Quantile(double p, double alpha, double beta)
    {
        if (!(alpha > 0) || !(beta > 0) || double.IsInfinity(alpha) || double.IsInfinity(beta))
            throw new ArgumentOutOfRangeException(nameof(alpha), $"The Beta distribution needs α, β > 0 and finite (got {alpha}, {beta}).");
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), $"A probability is in [0, 1] (got {p}).");
        if (p == 0) return 0;
        if (p == 1) return 1;

        var logBeta = LogGamma(alpha) + LogGamma(beta) - LogGamma(alpha + beta);
        double low = 0, high = 1, x = 0.5;
        for (var iteration = 0; iteration < 200; iteration++)
        {
            var error = RegularizedIncompleteBeta(x, alpha, beta, logBeta) - p;
            if (error == 0) return x;
            if (error < 0) low = x; else high = x;
            // The density; a Newton step from x, kept only when it lands strictly inside the bracket.
            var density = Math.Exp((alpha - 1) * Math.Log(x) + (beta - 1) * Math.Log(1 - x) - logBeta);
            var next = x - error / density;
            if (!(next > low && next < high)) next = 0.5 * (low + high);
            if (next == x || high - low <= 2 * double.Epsilon) return next;
            x = next;
        }
        return x;
    }

    /// <summary>I_x(a, b), by the continued fraction on whichever side converges fast (x below (a + 1)/(a + b + 2)).</summary>
    public static double RegularizedIncompleteBeta(double x, double a, double b, double logBeta)
    {
        if (x <= 0) return 0;
        if (x >= 1) return 1;
        var front = Math.Exp(a * Math.Log(x) + b * Math.Log(1 - x) - logBeta);
        return x < (a + 1) / (a + b + 2)
            ? front * ContinuedFraction(x, a, b) / a
            : 1 - front * ContinuedFraction(1 - x, b, a) / b;
    }

    // The incomplete beta function's continued fraction, evaluated by the modified Lentz method.
    private static double ContinuedFraction(double x, double a, double b)
    {
        const double tiny = 1e-300;
        double c = 1, d = 1 - (a + b) * x / (a + 1);
        if (Math.Abs(d) < tiny) d = tiny;
        d = 1 / d;
        var result = d;
        for (var m = 1; m <= 10_000; m++)
        {
            // The even term, then the odd term, of the fraction's coefficients.
            var even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
            d = 1 + even * d; if (Math.Abs(d) < tiny) d = tiny;
            c = 1 + even / c; if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            result *= d * c;
            var odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
            d = 1 + odd * d; if (Math.Abs(d) < tiny) d = tiny;
            c = 1 + odd / c; if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            var step = d * c;
            result *= step;
            if (Math.Abs(step - 1) < 1e-16) break;
        }
        return result;
    }

    /// <summary>ln Γ(x) for x &gt; 0: the Lanczos approximation (g = 7, nine terms), about 15 significant digits.</summary>
    public static double LogGamma(double x)
    {
        if (x < 0.5) return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x); // reflection
        x -= 1;
        var sum = LanczosCoefficients[0];
        for (var i = 1; i < LanczosCoefficients.Length; i++) sum += LanczosCoefficients[i] / (x + i);
        var t = x + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }

    private static readonly double[] LanczosCoefficients =
    [
        0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
        12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
    ];
}
