using Diffusion.Sdk.Abstractions;

namespace Diffusion.Sdk.Sampling;

/// <summary>
/// Karras et al. 2022 noise-level spacing (eq. 5: σ_i = (σ_max^{1/ρ} + i/(n−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ,
/// ρ = 7) for any sampler. Sigma-space samplers receive the σ list itself; the others receive the timesteps those σ
/// map to by log-σ interpolation, rounded to whole training steps (repeats removed). A sampler that accepts neither
/// is refused with a <see cref="SchedulerConfigException"/> naming it.
/// </summary>
/// <remarks>
/// σ_max and σ_min are the noise levels at the first and last of the sampler's own spaced timesteps (so
/// <c>timestep_spacing</c> and <c>steps_offset</c> move them), as the reference's Karras option does for Euler-type
/// samplers; <c>sigma_min</c>/<c>sigma_max</c> in the configuration override them. The factory uses this wrapper
/// only for samplers that have no Karras option of their own: one that does (Euler, DPM-Solver, …) gets
/// <c>use_karras_sigmas</c> in its configuration instead, and follows the reference's range for that class.
/// </remarks>
public sealed class KarrasSigmasWrapper(ISampler inner, double rho = SigmaMath.KarrasRho) : SamplerDecorator(inner)
{
    /// <summary>ρ of the spacing.</summary>
    public double Rho { get; } = rho > 0 ? rho : throw new ArgumentOutOfRangeException(nameof(rho), rho, "ρ must be > 0.");

    /// <inheritdoc/>
    public override void SetTimesteps(int numInferenceSteps)
    {
        var schedule = Schedule;
        if (numInferenceSteps < 1 || numInferenceSteps > schedule.NumTrainTimesteps)
            throw new SchedulerConfigException("num_inference_steps", numInferenceSteps.ToString(System.Globalization.CultureInfo.InvariantCulture),
                $"an integer from 1 to num_train_timesteps = {schedule.NumTrainTimesteps}");
        if (SamplerDecorator.Unwrap(Inner) is IFlowMatchingSampler)
            throw new SchedulerConfigException("use_karras_sigmas", "true (wrapper)",
                $"the '{Inner.Name}' sampler's own use_karras_sigmas: its noise levels are flow σ in [0, 1], not the training schedule's");
        // The range: the noise levels at the ends of the sampler's own spaced schedule, from its σ table where it
        // has one (its precision may differ from the schedule's).
        Inner.SetTimesteps(numInferenceSteps);
        var sigmaSampler = Inner as ISigmaSampler;
        var spaced = Inner.Timesteps;
        double sigmaMax, sigmaMin;
        if (sigmaSampler is not null)
        {
            sigmaMax = sigmaSampler.Sigmas[0];
            sigmaMin = sigmaSampler.Sigmas[spaced.Count - 1];
        }
        else
        {
            sigmaMax = SigmaMath.SigmaAtTimestep(spaced.Max(), schedule);
            sigmaMin = SigmaMath.SigmaAtTimestep(spaced.Min(), schedule);
        }
        sigmaMin = Config.SigmaMin ?? sigmaMin;
        sigmaMax = Config.SigmaMax ?? sigmaMax;
        var sigmas = SigmaMath.Karras(sigmaMin, sigmaMax, numInferenceSteps, Rho);

        try
        {
            if (sigmaSampler is not null)
            {
                sigmaSampler.SetSigmas(sigmas);
                return;
            }
            var logSigmas = SigmaMath.LogSigmas(schedule);
            var timesteps = new List<double>(numInferenceSteps);
            foreach (var sigma in sigmas)
            {
                var t = Math.Round(SigmaMath.SigmaToTimestep(sigma, logSigmas));
                if (timesteps.Count == 0 || t < timesteps[^1]) timesteps.Add(t);
            }
            Inner.SetTimesteps(timesteps);
        }
        catch (NotSupportedException e)
        {
            throw new SchedulerConfigException("use_karras_sigmas", "true", $"false: the '{Inner.Name}' sampler takes neither explicit sigmas nor explicit timesteps", innerException: e);
        }
    }
}
