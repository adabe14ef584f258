"""Reference trajectories of k-diffusion's `sample_dpm_adaptive` on a closed-form Gaussian denoiser.

Runs k-diffusion's own `k_diffusion/sampling.py` (unmodified, from a checkout named by K_DIFFUSION_SRC) under
Debian's python3-torch. Its module imports scipy, torchdiffeq, torchsde and tqdm, which the adaptive solver does not
use (tqdm only as a progress bar) and which Debian's torch does not bring: they are replaced by inert stand-ins before
the file is loaded, so the solver's code runs exactly as shipped.

The data: x₀ ~ N(μ_i, s_i²) independently per element, so D(x, σ)_i = μ_i + s_i²/(s_i² + σ²)·(x_i − μ_i) exactly.
σ_max and σ_min are Stable Diffusion's (scaled-linear β 0.00085…0.012, 1000 steps, float32 ᾱ), as k-diffusion's
CompVisDenoiser would hold them. x_T = randn(shape, generator seeded with `seed`)·σ_max; the ancestral cases draw
their noise from the same generator, as the SDK's pipeline draws both from one seeded stream.

Usage: K_DIFFUSION_SRC=/path/to/k-diffusion /usr/bin/python3 make_reference.py OUT.json
"""
import contextlib
import importlib.util
import json
import os
import sys
import types

import torch


def load_sampling(root):
    """k_diffusion.sampling from `root`, its unused imports stood in for."""
    class _Bar(contextlib.AbstractContextManager):
        def __init__(self, *args, **kwargs): pass
        def __exit__(self, *exc): return False
        def update(self, n=1): pass
    stubs = {
        "scipy": types.ModuleType("scipy"), "scipy.integrate": types.ModuleType("scipy.integrate"),
        "torchdiffeq": types.ModuleType("torchdiffeq"), "torchsde": types.ModuleType("torchsde"),
        "tqdm": types.ModuleType("tqdm"), "tqdm.auto": types.ModuleType("tqdm.auto"),
    }
    stubs["scipy"].integrate = stubs["scipy.integrate"]
    stubs["torchdiffeq"].odeint = None
    stubs["tqdm.auto"].tqdm = _Bar
    stubs["tqdm.auto"].trange = lambda *a, **k: _Bar()
    sys.modules.update(stubs)
    package = types.ModuleType("k_diffusion")
    package.__path__ = [os.path.join(root, "k_diffusion")]
    sys.modules["k_diffusion"] = package
    sys.modules["k_diffusion.utils"] = types.ModuleType("k_diffusion.utils")  # used by other samplers only
    package.utils = sys.modules["k_diffusion.utils"]
    spec = importlib.util.spec_from_file_location("k_diffusion.sampling", os.path.join(root, "k_diffusion", "sampling.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["k_diffusion.sampling"] = module
    spec.loader.exec_module(module)
    return module


def sd_sigmas():
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float32) ** 2
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
    return float(sigmas[0]), float(sigmas[-1])


CASES = [
    dict(name="order3-default", order=3, rtol=0.05, atol=0.0078, h_init=0.05, pcoeff=0.0, icoeff=1.0, dcoeff=0.0, accept_safety=0.81, eta=0.0, seed=1),
    dict(name="order2-default", order=2, rtol=0.05, atol=0.0078, h_init=0.05, pcoeff=0.0, icoeff=1.0, dcoeff=0.0, accept_safety=0.81, eta=0.0, seed=2),
    dict(name="order3-tight", order=3, rtol=0.002, atol=0.0005, h_init=0.05, pcoeff=0.0, icoeff=1.0, dcoeff=0.0, accept_safety=0.81, eta=0.0, seed=3),
    dict(name="order2-pid", order=2, rtol=0.01, atol=0.002, h_init=0.2, pcoeff=0.3, icoeff=0.9, dcoeff=0.2, accept_safety=0.9, eta=0.0, seed=4),
    dict(name="order3-big-first-step", order=3, rtol=0.02, atol=0.004, h_init=1.5, pcoeff=0.0, icoeff=1.0, dcoeff=0.0, accept_safety=0.81, eta=0.0, seed=5),
    dict(name="order3-ancestral", order=3, rtol=0.05, atol=0.0078, h_init=0.05, pcoeff=0.0, icoeff=1.0, dcoeff=0.0, accept_safety=0.81, eta=1.0, seed=6),
    dict(name="order2-ancestral-half", order=2, rtol=0.02, atol=0.004, h_init=0.05, pcoeff=0.0, icoeff=1.0, dcoeff=0.0, accept_safety=0.81, eta=0.5, seed=7),
]


def run(sampling, case, shape, mean, std, sigma_min, sigma_max):
    generator = torch.Generator().manual_seed(case["seed"])
    x = torch.randn(shape, generator=generator) * sigma_max
    start = x.clone()

    def model(x, sigma):
        s2 = std * std
        return mean + s2 / (s2 + sigma.view(-1, *[1] * (x.ndim - 1)) ** 2) * (x - mean)

    steps = []

    def callback(info):
        steps.append(dict(
            accepted=info["n_accept"] > sum(s["accepted"] for s in steps),
            sigma=float(info["sigma"]), error=float(info["error"]), h=float(info["h"]), nfe=info["nfe"],
            x=[float(v) for v in info["x"].flatten()]))

    noise_sampler = lambda sigma, sigma_next: torch.randn(shape, generator=generator)
    result, info = sampling.sample_dpm_adaptive(
        model, x, sigma_min, sigma_max, callback=callback, order=case["order"], rtol=case["rtol"], atol=case["atol"],
        h_init=case["h_init"], pcoeff=case["pcoeff"], icoeff=case["icoeff"], dcoeff=case["dcoeff"],
        accept_safety=case["accept_safety"], eta=case["eta"], noise_sampler=noise_sampler, return_info=True)
    for step in steps:
        if not step["accepted"]:
            del step["x"]  # a rejected step leaves x as it was
    return dict(case, shape=list(shape), initial=[float(v) for v in start.flatten()], final=[float(v) for v in result.flatten()],
                steps_tried=info["steps"], accepted=info["n_accept"], rejected=info["n_reject"], nfe=info["nfe"], steps=steps)


def main():
    root = os.environ.get("K_DIFFUSION_SRC") or sys.exit("K_DIFFUSION_SRC is not set: name a k-diffusion checkout")
    out = sys.argv[1]
    sampling = load_sampling(root)
    torch.set_num_threads(1)
    sigma_min, sigma_max = sd_sigmas()
    shape = (2, 1, 4, 8)
    n = 64
    mean = (torch.arange(n, dtype=torch.float32) / n - 0.5).view(shape) * 1.2
    std = (0.1 + 0.8 * ((torch.arange(n, dtype=torch.float32) * 7) % n) / n).view(shape)
    cases = [run(sampling, case, shape, mean, std, sigma_min, sigma_max) for case in CASES]
    document = dict(
        source="k-diffusion sample_dpm_adaptive (k_diffusion/sampling.py, unmodified)", torch=torch.__version__,
        sigma_min=sigma_min, sigma_max=sigma_max, mean=[float(v) for v in mean.flatten()], std=[float(v) for v in std.flatten()],
        cases=cases)
    with open(out, "w") as f:
        json.dump(document, f, indent=1)
    for c in cases:
        print(f"{c['name']}: {c['accepted']} accepted, {c['rejected']} rejected, nfe {c['nfe']}")


if __name__ == "__main__":
    main()
