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
    /// <summary>Heun's second-order method on the probability-flow ODE in sigma space (Karras et al. 2022).</summary>
    public const string Heun = "heun";
    /// <summary>k-diffusion's DPM-Solver-2 (KDPM2): a second-order step through the geometric midpoint in sigma.</summary>
    public const string Kdpm2 = "kdpm2";
    /// <summary>KDPM2 with ancestral sampling noise.</summary>
    public const string Kdpm2Ancestral = "kdpm2-ancestral";
    /// <summary>Linear multistep in sigma space (Karras et al. 2022; k-diffusion's sample_lms).</summary>
    public const string Lms = "lms";

    private static readonly Dictionary<string, string> ByClassName = new(StringComparer.Ordinal)
    {
        ["DDPMScheduler"] = Ddpm,
        ["DDIMScheduler"] = Ddim,
        ["DPMSolverMultistepScheduler"] = DpmSolver,
        ["EulerDiscreteScheduler"] = Euler,
        ["EulerAncestralDiscreteScheduler"] = EulerAncestral,
        ["PNDMScheduler"] = Pndm,
        ["HeunDiscreteScheduler"] = Heun,
        ["KDPM2DiscreteScheduler"] = Kdpm2,
        ["KDPM2AncestralDiscreteScheduler"] = Kdpm2Ancestral,
        ["LMSDiscreteScheduler"] = Lms,
    };

    /// <summary>The SDK name for a reference class name, or null when the class is not one of the built-in samplers.</summary>
    public static string? FromClassName(string className) => ByClassName.GetValueOrDefault(className);

    /// <summary>The reference class name for an SDK name, or null when there is none.</summary>
    public static string? ToClassName(string samplerName) =>
        ByClassName.FirstOrDefault(p => p.Value == samplerName).Key;
}
