namespace Diffusion.Sdk.Abstractions;

/// <summary>
/// The built-in samplers' names. Which reference class (<c>_class_name</c>) each implements is declared by its
/// registration and resolved by the sampler factory, so plugins' classes resolve the same way.
/// </summary>
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
    /// <summary>UniPC, a unified multistep predictor-corrector (Zhao et al. 2023).</summary>
    public const string UniPc = "unipc";
    /// <summary>DEIS, the diffusion exponential integrator sampler (Zhang &amp; Chen 2023).</summary>
    public const string Deis = "deis";
    /// <summary>DPM-Solver / DPM-Solver++ single-step (Lu et al. 2022).</summary>
    public const string DpmSolverSinglestep = "dpm-solver-singlestep";
    /// <summary>Latent consistency models (Luo et al. 2023).</summary>
    public const string Lcm = "lcm";
    /// <summary>Trajectory consistency distillation (Zheng et al. 2024).</summary>
    public const string Tcd = "tcd";
    /// <summary>Euler's method on the flow-matching ODE (rectified flow; SD3, Flux), velocity models.</summary>
    public const string FlowMatchEuler = "flow-euler";
    /// <summary>Heun's method on the flow-matching ODE, with Karras et al.'s churn.</summary>
    public const string FlowMatchHeun = "flow-heun";
    /// <summary>Consistency (LCM) sampling on a flow: x₀ re-noised to each σ.</summary>
    public const string FlowMatchLcm = "flow-lcm";
    /// <summary>Improved pseudo numerical methods (iPNDM; Zhang &amp; Chen 2023): fourth-order Adams–Bashforth on the probability flow, no training schedule.</summary>
    public const string Ipndm = "ipndm";
    /// <summary>DDIM inversion: the deterministic DDIM step run from data to noise.</summary>
    public const string DdimInverse = "ddim-inverse";
    /// <summary>Euler on the EDM probability flow (Karras et al. 2022), with its churn.</summary>
    public const string EdmEuler = "edm-euler";
    /// <summary>DPM-Solver++ multistep on the EDM preconditioning (Karras et al. 2022; Lu et al. 2022).</summary>
    public const string EdmDpmSolver = "edm-dpm-solver";
    /// <summary>DPM-Solver++ SDE (k-diffusion's sample_dpmpp_sde): two ancestral evaluations per σ interval, midpoint in log σ.</summary>
    public const string DpmSolverSde = "dpm-solver-sde";
    /// <summary>DPM-Solver multistep inversion: the multistep updates run from data to noise.</summary>
    public const string DpmSolverInverse = "dpm-solver-inverse";
    /// <summary>SA-Solver (Xue et al. 2023): stochastic Adams predictor–corrector, τ-controlled noise per step.</summary>
    public const string SaSolver = "sa-solver";
    /// <summary>Adaptive-step DPM-Solver (Jolicoeur-Martineau et al. 2021; k-diffusion's sample_dpm_adaptive): it chooses its own steps.</summary>
    public const string DpmAdaptive = "dpm-adaptive";
}
