namespace Diffusion.Sdk.StableDiffusion;

/// <summary>The container's holder of the refiner loaded from <see cref="StableDiffusionOptions.RefinerFolder"/> (null model: none); disposing it disposes the refiner.</summary>
/// <param name="model">The refiner, or null.</param>
public sealed class StableDiffusionRefinerModel(StableDiffusionModel? model) : IDisposable
{
    /// <summary>The refiner, or null when none was configured.</summary>
    public StableDiffusionModel? Model { get; } = model;

    /// <summary>Releases the refiner's sessions.</summary>
    public void Dispose() => Model?.Dispose();
}
