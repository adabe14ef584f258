#!/usr/bin/python3
"""Synthetic SDXL inpainting fixtures, and what diffusers' StableDiffusionXLInpaintPipeline computes with them.

Run with Debian's torch, python3-onnx and python3-pil, diffusers' source under .scratch/diffusers/src (or
DIFFUSERS_SRC), from the repository root:

    /usr/bin/python3 tools/sd-fixtures/make_sdxl_inpaint.py

No SDXL inpainting export ships with the reference data, so this makes one from diffusers' own classes with seeded
random weights, small: a UNet2DConditionModel in the tiny SDXL export's shape (tests/Sdk.Tests/TestData/
sdxl-tiny-optimum: cross-attention 56 wide, the text_time addition embedding) with 9 input channels (latents, mask,
masked-image latents), the same UNet with 4 (inpainting by blending), and an AutoencoderKL (factor 8). Each is
exported as Optimum exports them (UNet: sample, float32 scalar timestep, encoder_hidden_states, text_embeds, time_ids;
vae_encoder returning latent_parameters; vae_decoder). The tokenizers, text encoders and scheduler (Euler) are
sdxl-tiny-optimum's, which the test copies beside these parts.

The pipeline itself runs here (transformers is stubbed: the prompt embeddings are handed in, as sdxl-tiny-optimum's case
X1 recorded them from the same prompt, negative prompt and encoders), with its mask and image processors, its random
draws in its order, classifier-free guidance and, for the 4-channel UNet, its blending of the noised start latents into
the known region after every step. The latents after every step (callback_on_step_end) and the image are recorded.

Writes tests/Sdk.Tests/TestData/sdxl-synthetic/inpaint/: unet-9/, unet-4/, vae_encoder/, vae_decoder/ (model.onnx and
config.json each), input.png, mask-hard.png, mask-soft.png, and one expected-<case>.json per case.
"""
import json
import os
import sys

import numpy as np
import onnx
import torch
from PIL import Image
from torch import nn

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTDATA = os.path.join(ROOT, "tests", "Sdk.Tests", "TestData")
XL = os.path.join(TESTDATA, "sdxl-tiny-optimum")
OUT = os.path.join(TESTDATA, "sdxl-synthetic", "inpaint")

UNET = dict(sample_size=8, out_channels=4, layers_per_block=1, block_out_channels=(8, 16), norm_num_groups=8,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 4), transformer_layers_per_block=(1, 1), cross_attention_dim=56, use_linear_projection=True,
            addition_embed_type="text_time", addition_time_embed_dim=8, projection_class_embeddings_input_dim=80)
VAE = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(4, 4, 8, 8), layers_per_block=1, norm_num_groups=4,
           down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, sample_size=64,
           scaling_factor=0.13025, force_upcast=True, mid_block_add_attention=False)
CASES = [
    # name, UNet channels, mask, strength, steps
    ("I1-xl-inpaint9-hard-strength1", 9, "mask-hard.png", 1.0, 3),
    ("I2-xl-inpaint9-soft-strength0.75", 9, "mask-soft.png", 0.75, 4),
    ("I3-xl-inpaint4-blend-strength0.8", 4, "mask-hard.png", 0.8, 4),
]


def import_diffusers():
    sys.path.insert(0, os.path.join(ROOT, "tools", "tiny-sd"))
    import hub_stubs
    hub_stubs.STUBBED = hub_stubs.STUBBED + ("transformers", "tokenizers", "accelerate", "peft", "httpx")
    sys.path.insert(0, os.environ.get("DIFFUSERS_SRC", os.path.join(ROOT, ".scratch", "diffusers", "src")))
    hub_stubs.install()
    import diffusers.utils.import_utils as iu
    iu._transformers_available, iu._transformers_version = True, "4.57.0"  # the pipeline module imports its names; nothing of it runs here


class UnetExport(nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids):
        return self.unet(sample, timestep, encoder_hidden_states, added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids}).sample


class VaeEncoderExport(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, sample):
        return self.vae.encode(sample).latent_dist.parameters


class VaeDecoderExport(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latent_sample):
        return self.vae.decode(latent_sample).sample


def export(module, args, folder, inputs, outputs, axes, config):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    with torch.no_grad():
        torch.onnx.export(module.eval(), args, path, input_names=inputs, output_names=outputs, dynamic_axes=axes, opset_version=17, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


def pictures():
    """A 64x64 RGB picture (smooth colour ramps with a bright disc), a hard rectangular mask and a soft (graded) one."""
    y, x = np.mgrid[0:64, 0:64].astype(np.float64)
    rgb = np.stack([x / 63, y / 63, 0.5 + 0.5 * np.sin(x / 9 + y / 13)], axis=-1)
    rgb[(x - 40) ** 2 + (y - 22) ** 2 < 120] = [0.95, 0.9, 0.2]
    Image.fromarray((rgb * 255).round().astype(np.uint8)).save(os.path.join(OUT, "input.png"))
    hard = np.zeros((64, 64), np.uint8)
    hard[16:48, 8:40] = 255
    Image.fromarray(hard).save(os.path.join(OUT, "mask-hard.png"))
    soft = np.clip(255 * (1.2 - np.hypot(x - 30, y - 34) / 22), 0, 255).round().astype(np.uint8)
    Image.fromarray(soft).save(os.path.join(OUT, "mask-soft.png"))


def values(t):
    return [float(f"{v:.8g}") for v in t.detach().to(torch.float32).flatten().tolist()]


def main():
    import_diffusers()
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl_inpaint import StableDiffusionXLInpaintPipeline
    from diffusers.schedulers.scheduling_euler_discrete import EulerDiscreteScheduler

    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    pictures()
    unets = {}
    for channels in (9, 4):
        torch.manual_seed(3300 + channels)
        unet = UNet2DConditionModel(in_channels=channels, **UNET).eval()
        unets[channels] = unet
        config = json.loads(unet.to_json_string())
        config["_note"] = "synthetic, seeded random weights (tools/sd-fixtures/make_sdxl_inpaint.py)"
        export(UnetExport(unet), (torch.randn(2, channels, 8, 8), torch.tensor(999.0), torch.randn(2, 77, 56), torch.randn(2, 32), torch.randn(2, 6)),
               os.path.join(OUT, f"unet-{channels}"), ["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"], ["out_sample"],
               {"sample": {0: "batch_size", 2: "height", 3: "width"}, "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
                "text_embeds": {0: "batch_size"}, "time_ids": {0: "batch_size"}, "out_sample": {0: "batch_size", 2: "height", 3: "width"}}, config)
    torch.manual_seed(3310)
    vae = AutoencoderKL(**VAE).eval()
    vae_config = json.loads(vae.to_json_string())
    export(VaeEncoderExport(vae), (torch.randn(1, 3, 64, 64),), os.path.join(OUT, "vae_encoder"), ["sample"], ["latent_parameters"],
           {"sample": {0: "batch_size", 2: "sample_height", 3: "sample_width"}, "latent_parameters": {0: "batch_size", 2: "latent_height", 3: "latent_width"}}, vae_config)
    export(VaeDecoderExport(vae), (torch.randn(1, 4, 8, 8),), os.path.join(OUT, "vae_decoder"), ["latent_sample"], ["sample"],
           {"latent_sample": {0: "batch_size", 2: "latent_height", 3: "latent_width"}, "sample": {0: "batch_size", 2: "sample_height", 3: "sample_width"}}, vae_config)

    x1 = json.load(open(os.path.join(XL, "expected", "X1-txt2img-euler-negative.json")))
    embeds = {k: torch.tensor(x1["encode_prompt"][k]["values"], dtype=torch.float32).reshape(x1["encode_prompt"][k]["shape"])
              for k in ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds")}
    scheduler_config = json.load(open(os.path.join(XL, "model", "scheduler", "scheduler_config.json")))
    image = Image.open(os.path.join(OUT, "input.png")).convert("RGB")
    for name, channels, mask_file, strength, steps in CASES:
        pipe = StableDiffusionXLInpaintPipeline(vae=vae, text_encoder=None, text_encoder_2=None, tokenizer=None, tokenizer_2=None,
                                                unet=unets[channels], scheduler=EulerDiscreteScheduler.from_config(scheduler_config),
                                                requires_aesthetics_score=False, force_zeros_for_empty_prompt=True, add_watermarker=False)
        pipe.set_progress_bar_config(disable=True)
        recorded = []

        def on_step(p, i, t, kwargs):
            recorded.append({"i": i, "t": float(t), "latents": values(kwargs["latents"])})
            return kwargs

        with torch.no_grad():
            out = pipe(**embeds, image=image, mask_image=Image.open(os.path.join(OUT, mask_file)), height=64, width=64, strength=strength,
                       num_inference_steps=steps, guidance_scale=x1["inputs"]["guidance_scale"], generator=torch.Generator("cpu").manual_seed(x1["seed"]),
                       output_type="np", callback_on_step_end=on_step, callback_on_step_end_tensor_inputs=["latents"])
        expected = {
            "case": name, "pipeline": "StableDiffusionXLInpaintPipeline", "unet": f"unet-{channels}", "image_png": "input.png", "mask_png": mask_file,
            "prompt": x1["inputs"]["prompt"], "negative_prompt": x1["inputs"]["negative_prompt"], "guidance_scale": x1["inputs"]["guidance_scale"],
            "seed": x1["seed"], "strength": strength, "steps": steps, "height": 64, "width": 64,
            "timesteps": [r["t"] for r in recorded], "steps_recorded": recorded, "image": values(torch.from_numpy(out.images)),
        }
        with open(os.path.join(OUT, f"expected-{name}.json"), "w") as f:
            json.dump(expected, f)
            f.write("\n")
        print(name, "timesteps", expected["timesteps"], "final latents |max|", max(abs(v) for v in recorded[-1]["latents"]))
    for dirpath, _, files in os.walk(OUT):
        for f in sorted(files):
            print(os.path.relpath(os.path.join(dirpath, f), ROOT), os.path.getsize(os.path.join(dirpath, f)))


if __name__ == "__main__":
    main()
