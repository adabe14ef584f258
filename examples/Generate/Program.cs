using Diffusion.Sdk.Abstractions;
using Diffusion.Sdk.Sampling;
// generate: sample images from a diffusion model with any sampler. Run with --help for every option.
return await Generate.GenerateCommand.InvokeAsync(args);
