"""Expected Align Your Steps schedules at step counts other than the published 10, by the paper's formula.

Sabour, Fidler, Kreis 2024 ("Align Your Steps"): the authors' `loglinear_interp` spreads a decreasing list of
noise levels over `num` points, linear in log σ over the normalized position (numpy's linspace and interp), and a
run of n steps uses n + 1 of them with the last set to 0. Written here from that description; the SDK's test
(AlignYourStepsTests) compares its own interpolation with this file's output.

The timesteps are the SDK's rule for samplers that take timesteps: each interpolated σ's fractional training
timestep on Stable Diffusion's schedule (scaled_linear 0.00085 … 0.012, 1000 steps; log-σ interpolation), rounded
half to even, a repeat of the previous one dropped.

Run: /usr/bin/python3 tools/align-your-steps/interpolate.py > tests/Sdk.Tests/TestData/align-your-steps/interpolated.json
"""
import json

import numpy as np

# The published 10-step lists (the authors' page, 3 decimals; the last entry is the model's smallest σ).
PUBLISHED = {
    "StableDiffusion": [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029],
    "StableDiffusionXL": [14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029],
    "StableVideoDiffusion": [700.00, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002],
}
STEPS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 15, 20, 25, 30, 40, 50, 100]


def loglinear_interp(values, num):
    xs = np.linspace(0, 1, len(values))
    ys = np.log(np.asarray(values, dtype=np.float64)[::-1])
    new_ys = np.interp(np.linspace(0, 1, num), xs, ys)
    return np.exp(new_ys)[::-1].copy()


def sd_log_sigmas():
    betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=np.float64) ** 2
    alphas_cumprod = np.cumprod(1.0 - betas)
    return np.log(((1 - alphas_cumprod) / alphas_cumprod) ** 0.5)


def timesteps_of(sigmas, log_sigmas):
    out = []
    for sigma in sigmas:
        t = float(np.round(np.interp(np.log(sigma), log_sigmas, np.arange(len(log_sigmas), dtype=np.float64))))
        if not out or t < out[-1]:
            out.append(t)
    return out


def main():
    log_sigmas = sd_log_sigmas()
    cases = []
    for model, published in PUBLISHED.items():
        for steps in STEPS:
            sigmas = loglinear_interp(published, steps + 1)
            sigmas[-1] = 0.0
            case = {"model": model, "steps": steps, "sigmas": [float(s) for s in sigmas]}
            if model != "StableVideoDiffusion":
                case["timesteps"] = timesteps_of(sigmas[:-1], log_sigmas)
            cases.append(case)
    print(json.dumps({"numpy": np.__version__, "cases": cases}, indent=1))


if __name__ == "__main__":
    main()
