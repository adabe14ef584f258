using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
using System.Globalization;

namespace Diffusion.Sdk.Pipeline;

/// <summary>
/// Several samplers run from the same initial noise and conditioning; the result is the weighted mean of their final
/// latents, Σ wᵢ·xᵢ / Σ wᵢ, and costs the sum of their model evaluations. Weights may be negative (an extrapolation
/// such as 2·A − B, which cancels an error the two members share in proportion); their sum must not be zero, since
/// it divides. See docs/ensembles.md for what averaging samples does to them (it blurs: a mean of two different
/// samples is, in general, not a sample of the data).
/// </summary>
public sealed class SamplerEnsemble
{
    /// <summary>Creates an ensemble of the given members, checked at once.</summary>
    /// <exception cref="SamplingOptionException">No member, a blank name, a weight that is not finite, or weights that sum to zero.</exception>
    public SamplerEnsemble(IEnumerable<EnsembleMember> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        Members = members.ToArray();
        if (Members.Count == 0) throw new SamplingOptionException(nameof(GenerationRequest.Ensemble), "no members", "at least one sampler with a weight, e.g. ddim:0.5,dpm-solver:0.5");
        for (var i = 0; i < Members.Count; i++)
        {
            var member = Members[i] ?? throw new SamplingOptionException(MemberName(i), null, "a sampler name and a weight");
            if (string.IsNullOrWhiteSpace(member.Sampler))
                throw new SamplingOptionException(MemberName(i) + "." + nameof(EnsembleMember.Sampler), member.Sampler, "a registered sampler name such as \"ddim\"");
            if (!double.IsFinite(member.Weight))
                throw new SamplingOptionException(MemberName(i) + "." + nameof(EnsembleMember.Weight), Format(member.Weight), "a finite number");
        }
        // The sum divides every weight. Zero makes the mean meaningless, and a sum nearly cancelled by negative weights
        // amplifies the latents by Σ|wᵢ| / |Σwᵢ| (0.5 and −0.4999999: ten million-fold). An extrapolation is allowed up
        // to MaxAmplification.
        var sum = Members.Sum(m => m.Weight);
        var scale = Members.Sum(m => Math.Abs(m.Weight));
        if (!(Math.Abs(sum) * MaxAmplification >= scale))
            throw new SamplingOptionException(nameof(GenerationRequest.Ensemble), string.Join(",", Members.Select(m => $"{m.Sampler}:{Format(m.Weight)}")),
                $"weights whose sum is not zero and at least 1/{MaxAmplification} of the sum of their sizes (they are divided by it, and the latents " +
                $"grow by Σ|w| / |Σw|, {Format(scale / Math.Abs(sum))} here); negative weights are allowed");
        Weights = Members.Select(m => m.Weight / sum).ToArray();
    }

    /// <summary>The most the normalised weights may amplify the latents, Σ|wᵢ| / |Σwᵢ| (1 for weights of one sign).</summary>
    public const double MaxAmplification = 100;

    /// <summary>The members, in the order they run.</summary>
    public IReadOnlyList<EnsembleMember> Members { get; }

    /// <summary>The members' weights divided by their sum (they add up to 1).</summary>
    public IReadOnlyList<double> Weights { get; }

    /// <summary>Parses <c>name:weight,name:weight,…</c> (weights in invariant culture, e.g. <c>ddim:0.5,dpm-solver:0.5</c>).</summary>
    /// <exception cref="SamplingOptionException">The text is not of that form, or the ensemble it describes is invalid.</exception>
    public static SamplerEnsemble Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        const string Form = "name:weight pairs separated by commas, e.g. ddim:0.5,dpm-solver:0.5";
        var members = new List<EnsembleMember>();
        foreach (var part in text.Split(','))
        {
            var colon = part.IndexOf(':');
            if (colon <= 0 || colon == part.Length - 1)
                throw new SamplingOptionException(nameof(GenerationRequest.Ensemble), text, $"{Form} ('{part.Trim()}' is not name:weight)");
            var name = part[..colon].Trim();
            var weightText = part[(colon + 1)..].Trim();
            if (!double.TryParse(weightText, NumberStyles.Float, CultureInfo.InvariantCulture, out var weight))
                throw new SamplingOptionException(nameof(GenerationRequest.Ensemble), text, $"{Form} ('{weightText}' is not a number)");
            members.Add(new EnsembleMember(name, weight));
        }
        return new SamplerEnsemble(members);
    }

    /// <summary>The ensemble as <see cref="Parse"/> reads it.</summary>
    public override string ToString() => string.Join(",", Members.Select(m => $"{m.Sampler}:{Format(m.Weight)}"));

    /// <summary>
    /// Combines the members' final latents: destination[i] = Σₖ Weights[k]·members[k][i], summed in double in member
    /// order and rounded once to float (scalar arithmetic, so the same bits whatever the machine's vector width).
    /// </summary>
    /// <exception cref="SamplingOptionException">The count of results differs from the members', or their lengths differ.</exception>
    public void Combine(IReadOnlyList<float[]> results, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (results.Count != Members.Count)
            throw new SamplingOptionException(nameof(GenerationRequest.Ensemble), $"{results.Count} results", $"one result per member ({Members.Count})");
        for (var k = 0; k < results.Count; k++)
            if (results[k].Length != destination.Length)
                throw new SamplingOptionException(MemberName(k), $"{results[k].Length} values", $"{destination.Length} values: every member's latents have the same shape");
        for (var i = 0; i < destination.Length; i++)
        {
            var sum = 0.0;
            for (var k = 0; k < results.Count; k++) sum += Weights[k] * results[k][i];
            destination[i] = (float)sum;
        }
    }

    private static string MemberName(int index) => $"{nameof(GenerationRequest.Ensemble)}[{index}]";

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
