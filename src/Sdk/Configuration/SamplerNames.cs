namespace Diffusion.Configuration;

/// <summary>The SDK's sampler names and the reference class names (<c>_class_name</c>) they correspond to.</summary>
public static class SamplerNames
{
    /// <summary>Denoising diffusion probabilistic models (Ho et al. 2020).</summary>
    public const string Ddpm = "ddpm";
    /// <summary>Denoising diffusion implicit models (Song et al. 2021).</summary>
    public const string Ddim = "ddim";
    /// <summary>DPM-Solver / DPM-Solver++ multistep (Lu et al. 2022).</summary>
    public const string DpmSolver = "dpm-solver";
    /// <summary>Euler's method on the probability-flow ODE in sigma space (Karras et al. 2022).</summary>
    public const string Euler = "euler";
    /// <summary>Euler with ancestral sampling noise.</summary>
    public const string EulerAncestral = "euler-ancestral";
    /// <summary>Pseudo numerical methods for diffusion models (Liu et al. 2022).</summary>
    public const string Pndm = "pndm";
    /// <summary>DPM-Solver / DPM-Solver++ single-step (Lu et al. 2022).</summary>
    public const string DpmSolverSinglestep = "dpm-solver-singlestep";
    /// <summary>Latent consistency models (Luo et al. 2023).</summary>
    public const string Lcm = "lcm";
    /// <summary>Trajectory consistency distillation (Zheng et al. 2024).</summary>
    public const string Tcd = "tcd";

    private static readonly Dictionary<string, string> ByClassName = new(StringComparer.Ordinal)
    {
        ["DDPMScheduler"] = Ddpm,
        ["DDIMScheduler"] = Ddim,
        ["DPMSolverMultistepScheduler"] = DpmSolver,
        ["EulerDiscreteScheduler"] = Euler,
        ["EulerAncestralDiscreteScheduler"] = EulerAncestral,
        ["PNDMScheduler"] = Pndm,
        ["DPMSolverSinglestepScheduler"] = DpmSolverSinglestep,
        ["LCMScheduler"] = Lcm,
        ["TCDScheduler"] = Tcd,
    };

    /// <summary>The SDK name for a reference class name, or null when the class is not a built-in sampler's.</summary>
    public static string? FromClassName(string className) => ByClassName.GetValueOrDefault(className);

    /// <summary>The reference class name for an SDK name, or null when there is none.</summary>
    public static string? ToClassName(string samplerName) =>
        ByClassName.FirstOrDefault(p => p.Value == samplerName).Key;
}
