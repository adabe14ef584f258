#!/usr/bin/python3
"""A synthetic SDXL LCM UNet, and what diffusers' SDXL pipelines compute with it, for the SDK's tests of LCM on the
SDXL path.

Run with Debian's torch, python3-onnx and python3-pil, diffusers' source under .scratch/diffusers/src (or
DIFFUSERS_SRC), from the repository root, after make_sdxl_inpaint.py (whose VAE and input picture it shares):

    /usr/bin/python3 tools/sd-fixtures/make_sdxl_lcm.py

The UNet is diffusers' UNet2DConditionModel in make_sdxl_inpaint.py's tiny SDXL shape with time_cond_proj_dim 256
(LCM's guidance embedding enters through time_embedding.cond_proj), seeded random weights, exported as Optimum exports
an LCM UNet: sample, a float32 scalar timestep, encoder_hidden_states [B, 77, 56], text_embeds [B, 32], time_ids
[B, 6], timestep_cond [B, 256]. It writes tests/Sdk.Tests/TestData/sdxl-synthetic/lcm/:

  unet/model.onnx, unet/config.json     the UNet
  scheduler/scheduler_config.json       LCMScheduler (lcm-tiny-optimum's settings)
  expected-<case>.json                  the reference runs (below)

The reference runs are diffusers' own StableDiffusionXLPipeline (text to image) and StableDiffusionXLImg2ImgPipeline
(image to image, sdxl-synthetic/inpaint's picture and VAE) with that UNet and LCMScheduler, run here (transformers is
stubbed: the prompt's embeddings and pooled embeddings are handed in as sdxl-tiny-optimum's case X3 recorded them from
the same prompt and encoders). For a UNet with time_cond_proj_dim they run no classifier-free guidance and pass the
guidance-scale embedding of w = guidance - 1; LCMScheduler draws the noise between steps from the generator. The
latents after every step (callback_on_step_end) and the output for output_type "latent" are recorded.
"""
import json
import os
import sys

import onnx
from onnx import numpy_helper
import torch
from PIL import Image
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_sdxl_inpaint as I  # noqa: E402  (the tiny SDXL UNet shape, the VAE, diffusers' import with the stubs)

ROOT, TESTDATA, XL = I.ROOT, I.TESTDATA, I.XL
OUT = os.path.join(TESTDATA, "sdxl-synthetic", "lcm")
COND_DIM = 256
CASES = [
    # name, pipeline, steps, guidance, strength (None: text to image)
    ("L1-xl-lcm-txt2img-4steps-w8.5", "txt2img", 4, 8.5, None),
    ("L2-xl-lcm-img2img-strength0.6-4steps-w2", "img2img", 4, 2.0, 0.6),
]


class UnetExport(nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids, timestep_cond):
        return self.unet(sample, timestep, encoder_hidden_states, timestep_cond=timestep_cond,
                         added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids}).sample


def main():
    I.import_diffusers()
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import StableDiffusionXLPipeline
    from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl_img2img import StableDiffusionXLImg2ImgPipeline
    from diffusers.schedulers.scheduling_lcm import LCMScheduler

    torch.set_num_threads(1)
    torch.manual_seed(3320)
    unet = UNet2DConditionModel(in_channels=4, time_cond_proj_dim=COND_DIM, **I.UNET).eval()
    config = json.loads(unet.to_json_string())
    config["_note"] = "synthetic, seeded random weights (tools/sd-fixtures/make_sdxl_lcm.py)"
    I.export(UnetExport(unet), (torch.randn(2, 4, 8, 8), torch.tensor(999.0), torch.randn(2, 77, 56), torch.randn(2, 32), torch.randn(2, 6), torch.randn(2, COND_DIM)),
             os.path.join(OUT, "unet"), ["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids", "timestep_cond"], ["out_sample"],
             {"sample": {0: "batch_size", 2: "height", 3: "width"}, "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
              "text_embeds": {0: "batch_size"}, "time_ids": {0: "batch_size"}, "timestep_cond": {0: "batch_size"},
              "out_sample": {0: "batch_size", 2: "height", 3: "width"}}, config)
    scheduler_config = json.load(open(os.path.join(TESTDATA, "lcm-tiny-optimum", "model", "scheduler", "scheduler_config.json")))
    os.makedirs(os.path.join(OUT, "scheduler"), exist_ok=True)
    with open(os.path.join(OUT, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(scheduler_config, f, indent=2)
        f.write("\n")

    # make_sdxl_inpaint.py's VAE: the same seed and configuration give the same weights; checked against its export.
    torch.manual_seed(3310)
    vae = AutoencoderKL(**I.VAE).eval()
    shipped = onnx.load(os.path.join(I.OUT, "vae_decoder", "model.onnx"))
    named = {t.name: numpy_helper.to_array(t) for t in shipped.graph.initializer}
    assert all((named[k] == v.detach().numpy()).all() for k, v in vae.named_parameters() if k in named), "make_sdxl_inpaint.py's VAE changed: run it first"

    x3 = json.load(open(os.path.join(XL, "expected", "X3-turbo-euler-ancestral-trailing-no-cfg.json")))
    embeds = {k: torch.tensor(x3["encode_prompt"][k]["values"], dtype=torch.float32).reshape(x3["encode_prompt"][k]["shape"])
              for k in ("prompt_embeds", "pooled_prompt_embeds")}
    parts = dict(vae=vae, text_encoder=None, text_encoder_2=None, tokenizer=None, tokenizer_2=None, unet=unet,
                 scheduler=LCMScheduler.from_config(scheduler_config), force_zeros_for_empty_prompt=True, add_watermarker=False)
    for name, kind, steps, guidance, strength in CASES:
        recorded = []

        def on_step(p, i, t, kwargs):
            recorded.append({"i": i, "t": float(t), "latents": I.values(kwargs["latents"])})
            return kwargs

        common = dict(**embeds, num_inference_steps=steps, guidance_scale=guidance, generator=torch.Generator("cpu").manual_seed(x3["seed"]),
                      output_type="latent", callback_on_step_end=on_step, callback_on_step_end_tensor_inputs=["latents"])
        with torch.no_grad():
            if kind == "txt2img":
                pipe = StableDiffusionXLPipeline(**parts)
                pipe.set_progress_bar_config(disable=True)
                out = pipe(height=64, width=64, **common)
            else:
                pipe = StableDiffusionXLImg2ImgPipeline(**parts, requires_aesthetics_score=False)
                pipe.set_progress_bar_config(disable=True)
                out = pipe(image=Image.open(os.path.join(I.OUT, "input.png")).convert("RGB"), strength=strength, **common)
        expected = {
            "case": name, "pipeline": type(pipe).__name__, "prompt": x3["inputs"]["prompt"], "seed": x3["seed"], "steps": steps,
            "guidance_scale": guidance, "strength": strength, "height": 64, "width": 64, "image_png": None if strength is None else "../inpaint/input.png",
            "timesteps": [r["t"] for r in recorded], "steps_recorded": recorded, "final_latents": I.values(out.images),
        }
        with open(os.path.join(OUT, f"expected-{name}.json"), "w") as f:
            json.dump(expected, f)
            f.write("\n")
        print(name, "timesteps", expected["timesteps"], "final latents |max|", max(abs(v) for v in expected["final_latents"]))
    for dirpath, _, files in os.walk(OUT):
        for f in sorted(files):
            print(os.path.relpath(os.path.join(dirpath, f), ROOT), os.path.getsize(os.path.join(dirpath, f)))


if __name__ == "__main__":
    main()
