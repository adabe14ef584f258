namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// A sampler whose schedule itself depends on the image-to-image strength: the consistency samplers (LCM, TCD), which
/// the reference's latent-consistency image-to-image pipeline asks for <c>set_timesteps(n, strength=s)</c>, choosing
/// n timesteps among the part of the distillation schedule that the strength keeps. Other samplers are shortened by
/// starting part-way into their full schedule (<see cref="ISampler.SetBeginIndex"/>).
/// </summary>
public interface IStrengthScheduledSampler : ISampler
{
    /// <summary>Chooses <paramref name="numInferenceSteps"/> timesteps for a start image noised to <paramref name="strength"/>, and resets all state of a previous run.</summary>
    /// <exception cref="SchedulerConfigException">The strength is outside (0, 1], or the shortened schedule has fewer timesteps than asked for.</exception>
    void SetTimesteps(int numInferenceSteps, double strength);
}
