#!/usr/bin/python3
"""A synthetic SDXL-shaped LCM UNet, and what diffusers' StableDiffusionXLPipeline computes with it, for the SDK's
test of LCM on the SDXL path.

Run with Debian's torch and python3-onnx, diffusers' source under .scratch/diffusers/src (or DIFFUSERS_SRC), from the
repository root:

    /usr/bin/python3 tools/sd-fixtures/make_sdxl_lcm.py

The UNet is a small torch module with the inputs of the tiny SDXL export (tests/Sdk.Tests/TestData/sdxl-tiny-optimum:
sample, a float32 scalar timestep, encoder_hidden_states [B, 77, 56], text_embeds [B, 32], time_ids [B, 6]) plus
LCM's timestep_cond [B, 256], exported to ONNX. Its output depends on every input (fixed seeded weights), so a
missing, misplaced or doubled row would show. It writes tests/Sdk.Tests/TestData/sdxl-synthetic/lcm/:

  unet/model.onnx, unet/config.json     the graph; config with time_cond_proj_dim 256 and the SDXL addition embedding
  scheduler/scheduler_config.json       LCMScheduler (lcm-tiny-optimum's settings)
  expected.json                         the reference run (below)

The reference run is StableDiffusionXLPipeline's loop for a UNet whose config has time_cond_proj_dim, replayed here
step by step since transformers (and so the pipeline class) is not installed: no classifier-free guidance (a UNet
with time_cond_proj_dim never gets it); timestep_cond = the guidance-scale embedding of w = guidance - 1, float32;
the prompt's embeddings, pooled embeddings and add_time_ids as sdxl-tiny-optimum's case X3 recorded them from the
same prompt, size and encoders; latents = randn(generator seeded 7) * init_noise_sigma; every step
scheduler.step(noise_pred, t, latents, generator=generator) (diffusers' LCMScheduler, which draws the noise between
steps from the generator); output_type "latent" returns the last step's prev_sample, which is its denoised sample.
"""
import json
import math
import os
import sys

import numpy as np
import onnx
import torch
from torch import nn

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTDATA = os.path.join(ROOT, "tests", "Sdk.Tests", "TestData")
XL = os.path.join(TESTDATA, "sdxl-tiny-optimum")
OUT = os.path.join(TESTDATA, "sdxl-synthetic", "lcm")
COND_DIM = 256
CASE = dict(steps=4, guidance=8.5, seed=7, height=64, width=64)


class SyntheticLcmUnet(nn.Module):
    """eps = sample + 0.1 * tanh(mix(sample)) * (1 + 0.5 sin(t / 300)) + 0.1 * per-item, per-channel bias of the conditioning."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(2611)
        self.mix = nn.Parameter(torch.randn(4, 4, 1, 1, generator=g) * 0.5)
        self.cond = nn.Parameter(torch.randn(COND_DIM, 4, generator=g) * 0.1)
        self.hidden = nn.Parameter(torch.randn(56, 4, generator=g) * 0.3)
        self.pooled = nn.Parameter(torch.randn(32, 4, generator=g) * 0.3)
        self.time_ids = nn.Parameter(torch.randn(6, 4, generator=g) * 0.3)

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids, timestep_cond):
        t = timestep.to(torch.float32)
        bias = (torch.tanh(timestep_cond @ self.cond) + torch.tanh(encoder_hidden_states.mean(dim=1) @ self.hidden)
                + torch.tanh(text_embeds @ self.pooled) + torch.tanh((time_ids / 64.0) @ self.time_ids))
        mixed = torch.tanh(nn.functional.conv2d(sample, self.mix)) * (1 + 0.5 * torch.sin(t / 300.0))
        return sample + 0.1 * mixed + 0.1 * bias[:, :, None, None]


def guidance_embedding(w, dim):
    """Sinusoidal embedding of w * 1000 (sin half, then cos half), float32, as the LCM pipelines compute it."""
    w = torch.tensor([w], dtype=torch.float32) * 1000.0
    half = dim // 2
    freq = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    arg = w[:, None] * freq[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


def values(t):
    return [float(f"{v:.8g}") for v in t.detach().to(torch.float32).flatten().tolist()]


def main():
    sys.path.insert(0, os.path.join(ROOT, "tools", "tiny-sd"))
    import hub_stubs
    sys.path.insert(0, os.environ.get("DIFFUSERS_SRC", os.path.join(ROOT, ".scratch", "diffusers", "src")))
    hub_stubs.install()
    from diffusers.schedulers.scheduling_lcm import LCMScheduler

    torch.set_num_threads(1)
    unet = SyntheticLcmUnet().eval()
    os.makedirs(os.path.join(OUT, "unet"), exist_ok=True)
    os.makedirs(os.path.join(OUT, "scheduler"), exist_ok=True)
    path = os.path.join(OUT, "unet", "model.onnx")
    args = (torch.randn(1, 4, 8, 8), torch.tensor(999.0), torch.randn(1, 77, 56), torch.randn(1, 32), torch.randn(1, 6), torch.randn(1, COND_DIM))
    names = ["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids", "timestep_cond"]
    with torch.no_grad():
        torch.onnx.export(unet, args, path, input_names=names, output_names=["out_sample"], opset_version=17,
                          dynamic_axes={"sample": {0: "batch_size", 2: "height", 3: "width"}, "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
                                        "text_embeds": {0: "batch_size"}, "time_ids": {0: "batch_size"}, "timestep_cond": {0: "batch_size"},
                                        "out_sample": {0: "batch_size", 2: "height", 3: "width"}})
    onnx.checker.check_model(onnx.load(path))

    config = json.load(open(os.path.join(XL, "model", "unet", "config.json")))
    config["time_cond_proj_dim"] = COND_DIM
    config["_note"] = "synthetic (tools/sd-fixtures/make_sdxl_lcm.py): the tiny SDXL UNet's interface plus timestep_cond"
    json.dump(config, open(os.path.join(OUT, "unet", "config.json"), "w"), indent=2)
    scheduler_config = json.load(open(os.path.join(TESTDATA, "lcm-tiny-optimum", "model", "scheduler", "scheduler_config.json")))
    json.dump(scheduler_config, open(os.path.join(OUT, "scheduler", "scheduler_config.json"), "w"), indent=2)

    x3 = json.load(open(os.path.join(XL, "expected", "X3-turbo-euler-ancestral-trailing-no-cfg.json")))
    assert (x3["seed"], x3["inputs"]["height"], x3["inputs"]["width"]) == (CASE["seed"], CASE["height"], CASE["width"])
    prompt_embeds = torch.tensor(x3["encode_prompt"]["prompt_embeds"]["values"], dtype=torch.float32).reshape(x3["encode_prompt"]["prompt_embeds"]["shape"])
    pooled = torch.tensor(x3["encode_prompt"]["pooled_prompt_embeds"]["values"], dtype=torch.float32).reshape(x3["encode_prompt"]["pooled_prompt_embeds"]["shape"])
    time_ids = torch.tensor(x3["add_time_ids"]["unet_time_ids"], dtype=torch.float32).reshape(x3["add_time_ids"]["unet_time_ids_shape"])

    scheduler = LCMScheduler.from_config(scheduler_config)
    scheduler.set_timesteps(CASE["steps"])
    generator = torch.Generator("cpu").manual_seed(CASE["seed"])
    latents = torch.randn((1, 4, 8, 8), generator=generator, dtype=torch.float32) * scheduler.init_noise_sigma
    initial = latents.clone()
    cond = guidance_embedding(CASE["guidance"] - 1, COND_DIM)
    steps = []
    with torch.no_grad():
        for t in scheduler.timesteps:
            model_input = scheduler.scale_model_input(latents, t)
            noise_pred = unet(model_input, t.to(torch.float32), prompt_embeds, pooled, time_ids, cond)
            latents, denoised = scheduler.step(noise_pred, t, latents, generator=generator, return_dict=False)
            steps.append({"t": int(t), "noise_pred": values(noise_pred), "denoised": values(denoised), "latents": values(latents)})
    expected = {
        "what": "StableDiffusionXLPipeline with this UNet (time_cond_proj_dim 256) and LCMScheduler, output_type latent; see make_sdxl_lcm.py",
        "prompt": x3["inputs"]["prompt"], "steps": CASE["steps"], "guidance_scale": CASE["guidance"], "seed": CASE["seed"],
        "height": CASE["height"], "width": CASE["width"], "timesteps": [int(t) for t in scheduler.timesteps],
        "timestep_cond": values(cond), "initial_latents": values(initial), "steps_recorded": steps, "final_latents": values(latents),
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f)
        f.write("\n")
    for dirpath, _, files in os.walk(OUT):
        for name in sorted(files):
            print(os.path.relpath(os.path.join(dirpath, name), ROOT), os.path.getsize(os.path.join(dirpath, name)))
    print("timesteps", expected["timesteps"], "final latents |max|", float(latents.abs().max()))


if __name__ == "__main__":
    main()
