
namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// A sampler: it picks the timesteps to visit and turns each network output into the next, less noisy sample.
/// One instance drives one sampling run at a time (it may keep a history of outputs); create one per run
/// through <see cref="ISamplerFactory"/>. Samples are flattened NCHW tensors of <c>float</c>.
/// </summary>
public interface ISampler
{
    /// <summary>The sampler's registered name, e.g. <c>ddim</c>.</summary>
    string Name { get; }

    /// <summary>The configuration the sampler was created from (read it, do not change it).</summary>
    SchedulerConfig Config { get; }

    /// <summary>The forward-process schedule the network was trained with.</summary>
    NoiseSchedule Schedule { get; }

    /// <summary>The timesteps to visit, in order; empty until timesteps are set. Values may be fractional.</summary>
    IReadOnlyList<double> Timesteps { get; }

    /// <summary>The standard deviation of the initial noise x_T (1 for variance-preserving samplers, σ_max for sigma-space ones).</summary>
    double InitNoiseSigma { get; }

    /// <summary>
    /// The reference's <c>order</c>: how many consecutive entries of <see cref="Timesteps"/> one step of the method
    /// spans, i.e. model calls per step — 2 for two-stage methods such as Heun and KDPM2 (whose timesteps repeat),
    /// 1 for every other sampler, multistep ones included (a multistep method's order of accuracy is its
    /// <c>solver_order</c>, in <see cref="Config"/>). Image-to-image starts at <c>t_start × Order</c>, as the reference's
    /// pipelines slice <c>timesteps[t_start * scheduler.order:]</c>.
    /// </summary>
    int Order { get; }

    /// <summary>
    /// Makes the next step the one at position <paramref name="index"/> of <see cref="Timesteps"/> (the reference's
    /// <c>set_begin_index</c>), for runs that start part-way into the schedule (image-to-image). Call it after
    /// setting timesteps and before the first step.
    /// </summary>
    /// <exception cref="SamplerStateException">No timesteps are set, a step was already taken, or the index is outside the schedule.</exception>
    void SetBeginIndex(int index);

    /// <summary>Chooses <paramref name="numInferenceSteps"/> timesteps and resets all state of a previous run.</summary>
    /// <exception cref="SchedulerConfigException">The count is below 1 or above the training timesteps.</exception>
    void SetTimesteps(int numInferenceSteps);

    /// <summary>Uses an explicit, strictly descending list of timesteps and resets all state of a previous run.</summary>
    /// <exception cref="SchedulerConfigException">The list is empty, not descending, or outside [0, T−1].</exception>
    void SetTimesteps(IReadOnlyList<double> timesteps);

    /// <summary>Scales the sample the way the network expects it at <paramref name="timestep"/> (identity for most samplers).</summary>
    void ScaleModelInput(ReadOnlySpan<float> sample, double timestep, Span<float> destination);

    /// <summary>
    /// Whether <see cref="ScaleModelInput"/> changes the sample at <paramref name="timestep"/>. False where the network
    /// sees the sample itself (the reference's <c>scale_model_input</c> returns its input unchanged): a loop may then feed
    /// the sample to the network and skip the call and its copy. The default, true, always asks for the call.
    /// </summary>
    bool ScalesModelInput(double timestep) => true;

    /// <summary>
    /// Advances one step: from the network output at the current timestep to the sample at the next one.
    /// Allocates nothing once the sampler has seen a sample of this size.
    /// </summary>
    /// <param name="input">The network output, the timestep and the current sample.</param>
    /// <param name="output">Receives the previous (less noisy) sample and, where requested, the predicted x₀.</param>
    /// <param name="noise">Where stochastic samplers draw their noise; deterministic ones never call it.</param>
    /// <returns>Whether <see cref="StepOutput.PredictedOriginal"/> was written.</returns>
    /// <exception cref="SamplerStateException">Timesteps were not set, the timestep is not the next one of the schedule, or the run is over.</exception>
    bool Step(in StepInput input, in StepOutput output, INoiseSource noise);

    /// <summary>
    /// The forward process: noises clean samples to the given timesteps, one per batch item
    /// (x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε for variance-preserving samplers).
    /// </summary>
    /// <param name="original">The clean samples x₀, item after item.</param>
    /// <param name="noise">Standard-normal noise of the same length.</param>
    /// <param name="timesteps">One timestep per batch item; the batch size is its length.</param>
    /// <param name="destination">Receives the noisy samples.</param>
    void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, ReadOnlySpan<double> timesteps, Span<float> destination);
}
