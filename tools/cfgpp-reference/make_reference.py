"""Reference trajectories of CFG++ (Chung et al. 2024) for Euler, Euler ancestral and DPM++ 2M, as ComfyUI computes them.

A faithful minimal re-implementation, in this file's own code, of the update formulas of ComfyUI's
`sample_euler_cfg_pp`, `sample_euler_ancestral_cfg_pp` and `sample_dpmpp_2m_cfg_pp` (comfy/k_diffusion/sampling.py,
commit 02159d814dee609acc27994c1bf25fc5b40e2aaa), run in float32 under Debian's python3-torch. ComfyUI's own module
cannot be loaded without ComfyUI's model objects; what it computes per step, for a non-flow (ε) model, is:

  guided x̂₀ D and unconditional x̂₀ U from one CFG evaluation (ComfyUI combines in x̂₀: U + λ·(C − U));
  Euler (η = 0):     x' = D                      if σ' = 0,  else  d = (x − U)/σ;  x' = D + d·σ'
  Euler ancestral:   σ_down, σ_up = get_ancestral_step(σ, σ', η = 1);  x' = D if σ' = 0,
                     else  x' = D + d·σ_down + z·σ_up   (z one standard-normal draw per step)
  DPM++ 2M:          t = −log σ, h = t' − t;  first step or σ' = 0:  mix = −e^{−h}·U;
                     else  r = (t − t_prev)/h,  mix = −e^{−h}·U − expm1(−h)·(1/(2r))·(D − U_prev);
                     x' = D + mix + e^{−h}·x;  U_prev = U

ComfyUI's ancestral function scales by α = σ·e^{λ(σ)}, which is 1 for these models (1 up to a rounding unit in
float32); here α = 1 exactly. Its noise comes from the run's generator only where σ' > 0; the SDK's Euler ancestral
draws on every step (the last one multiplied by σ_up = 0), so every step's draw is recorded and the reference uses the
ones it needs.

The model: an ε-prediction network for data x₀ ~ N(μ_i, s²) per element (conditional: μ_i from −1 to 1, s = 0.5;
unconditional: μ = 0, s = 1), whose exact posterior mean is D(x; σ)_i = μ_i + s²/(s² + σ²)·(x_i − μ_i). ε = (x − D)/σ is
formed in float64 and rounded to float32, and x̂₀ = x − σ·ε in float32, as ComfyUI's ε model sampling forms it.
σ: Karras et al. 2022 between Stable Diffusion's σ_min and σ_max (ComfyUI's get_sigmas_karras, float32), then 0.

Usage: /usr/bin/python3 make_reference.py OUT.json
"""
import json
import sys

import torch

SIGMA_MIN, SIGMA_MAX = 0.029167532920837402, 14.614642143249512  # SD's scaled-linear schedule, float32 ᾱ
SHAPE = (1, 1, 4, 4)
COND = {"mean": [-1 + 2 * i / 15 for i in range(16)], "std": 0.5}
UNCOND = {"mean": [0.0] * 16, "std": 1.0}


def karras(n, rho=7.0):
    ramp = torch.linspace(0, 1, n)
    lo, hi = SIGMA_MIN ** (1 / rho), SIGMA_MAX ** (1 / rho)
    return torch.cat([(hi + ramp * (lo - hi)) ** rho, torch.zeros(1)])


def denoised(x, sigma, data):
    """x̂₀ of the closed-form ε network, rounded as an ε model's output is turned into x̂₀."""
    mean = torch.tensor(data["mean"], dtype=torch.float64).reshape(SHAPE)
    s2, var = data["std"] ** 2, float(sigma) ** 2
    x64 = x.double()
    eps = ((x64 - (mean + s2 / (s2 + var) * (x64 - mean))) / float(sigma)).float()
    return x - eps * sigma


def guided(x, sigma, lam):
    cond, uncond = denoised(x, sigma, COND), denoised(x, sigma, UNCOND)
    return uncond + (cond - uncond) * lam, uncond


def ancestral_step(sigma_from, sigma_to):
    up = torch.minimum(sigma_to, (sigma_to ** 2 * (sigma_from ** 2 - sigma_to ** 2) / sigma_from ** 2) ** 0.5)
    return (sigma_to ** 2 - up ** 2) ** 0.5, up


def euler(x, sigmas, lam, noise=None):
    xs = []
    for i in range(len(sigmas) - 1):
        d_guided, d_uncond = guided(x, sigmas[i], lam)
        if sigmas[i + 1] == 0:
            x = d_guided
        else:
            d = (x - d_uncond) / sigmas[i]
            if noise is None:
                x = d_guided + d * sigmas[i + 1]
            else:
                down, up = ancestral_step(sigmas[i], sigmas[i + 1])
                x = d_guided + d * down + noise[i] * up
        xs.append(x)
    return xs


def dpmpp_2m(x, sigmas, lam):
    xs, old_uncond = [], None
    for i in range(len(sigmas) - 1):
        d_guided, d_uncond = guided(x, sigmas[i], lam)
        t, t_next = sigmas[i].log().neg(), sigmas[i + 1].log().neg()
        h = t_next - t
        if old_uncond is None or sigmas[i + 1] == 0:
            mix = -torch.exp(-h) * d_uncond
        else:
            r = (t - sigmas[i - 1].log().neg()) / h
            mix = -torch.exp(-h) * d_uncond - torch.expm1(-h) * (1 / (2 * r)) * (d_guided - old_uncond)
        x = d_guided + mix + torch.exp(-h) * x
        old_uncond = d_uncond
        xs.append(x)
    return xs


def flat(t):
    return [float(v) for v in t.reshape(-1).tolist()]


def main(out):
    cases = []
    for sampler in ("euler", "euler-ancestral", "dpm-solver"):
        for steps, lam, seed in ((10, 0.6, 1), (10, 1.0, 2), (25, 0.4, 3)):
            generator = torch.Generator().manual_seed(seed)
            sigmas = karras(steps)
            x = torch.randn(SHAPE, generator=generator) * sigmas[0]
            noise = [torch.randn(SHAPE, generator=generator) for _ in range(steps)] if sampler == "euler-ancestral" else None
            if sampler == "dpm-solver":
                xs = dpmpp_2m(x, sigmas, lam)
            else:
                xs = euler(x, sigmas, lam, noise)
            cases.append({
                "sampler": sampler, "comfyui": {"euler": "sample_euler_cfg_pp", "euler-ancestral": "sample_euler_ancestral_cfg_pp",
                                                "dpm-solver": "sample_dpmpp_2m_cfg_pp"}[sampler],
                "lambda": lam, "steps": steps, "sigmas": flat(sigmas), "x_T": flat(x),
                "noise": [flat(z) for z in noise] if noise else [], "samples": [flat(v) for v in xs],
            })
    data = {
        "description": "CFG++ trajectories (VE view x = x0 + sigma*eps) on closed-form Gaussian conditional/unconditional eps models; "
                       "tools/cfgpp-reference/make_reference.py (a re-implementation of ComfyUI's update formulas, float32 torch "
                       + torch.__version__ + ")",
        "shape": list(SHAPE), "cond": COND, "uncond": UNCOND, "cases": cases,
    }
    with open(out, "w") as f:
        json.dump(data, f, indent=None, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
