#!/usr/bin/env python3
"""Writes the trained model into models/tiny-sd/ in Optimum's ONNX layout, which the SDK loads like any export:

  model_index.json                 StableDiffusionPipeline
  scheduler/scheduler_config.json  DDIMScheduler (the model's own sampler), every key explicit
  tokenizer/                       CLIP's tokenizer files, unchanged
  text_encoder/model.onnx, config.json   input_ids int64 [batch, sequence] -> last_hidden_state, pooler_output;
                                   the 49,408-row token table is stored in float16 and widened after the lookup
  unet/model.onnx, config.json     sample [batch,4,h,w], timestep float32 scalar, encoder_hidden_states -> out_sample
  vae_encoder/model.onnx, config.json   sample [batch,3,H,W] -> latent_parameters (mean and log-variance, [batch,8,H/4,W/4])
  vae_decoder/model.onnx, config.json   latent_sample -> sample; config.json holds the measured scaling_factor

Opset 17, one file per component (no external data), every file checked by onnx.checker.
Usage: python3 tools/tiny-sd/export.py [--work .scratch/tiny-sd]  (reads vae.pt, text_unet_ema.pt and results/training.json)
"""
import argparse
import inspect
import json
import os

import onnx
import torch
from torch import nn

import common as C
from text_encoder import HalfEmbeddingExport, TinyClipTextModel

OUT = os.path.join(C.ROOT, "models", "tiny-sd")
OPSET = 17


def _export(module, args, path, inputs, outputs, axes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    kwargs = dict(input_names=inputs, output_names=outputs, dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True)
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, args, path, **kwargs)
    model = onnx.load(path)
    onnx.checker.check_model(model)
    onnx.save_model(model, path, save_as_external_data=False)


def _json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


class UnetExport(nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states):
        return self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states).sample


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


def load_trained(work, scaling):
    AutoencoderKL, UNet2DConditionModel = C.diffusers_models()
    vae = AutoencoderKL(**C.VAE, scaling_factor=scaling)
    vae.load_state_dict(torch.load(os.path.join(work, "vae.pt")))
    state = torch.load(os.path.join(work, "text_unet_ema.pt"))
    text = TinyClipTextModel(**C.TEXT)
    text.load_state_dict(state["text"])
    unet = UNet2DConditionModel(**C.UNET)
    unet.load_state_dict(state["unet"])
    for m in (vae, text, unet):
        m.eval()
    return vae, text, unet


def scheduler_config():
    C.diffusers_models()
    from diffusers.schedulers.scheduling_ddim import DDIMScheduler
    s = DDIMScheduler(num_train_timesteps=C.NUM_TRAIN_TIMESTEPS, beta_start=C.BETA_START, beta_end=C.BETA_END,
                      beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=True, steps_offset=0,
                      prediction_type="epsilon", timestep_spacing="trailing")
    return json.loads(s.to_json_string())


def export_all(work, scaling, out=OUT):
    torch.set_num_threads(1)
    vae, text, unet = load_trained(work, scaling)
    width = C.TEXT["width"]
    ids = torch.full((2, 77), 49407, dtype=torch.int64)
    _export(HalfEmbeddingExport(text), (ids,), os.path.join(out, "text_encoder", "model.onnx"), ["input_ids"],
            ["last_hidden_state", "pooler_output"],
            {"input_ids": {0: "batch_size", 1: "sequence_length"}, "last_hidden_state": {0: "batch_size", 1: "sequence_length"},
             "pooler_output": {0: "batch_size"}})
    _export(UnetExport(unet), (torch.randn(2, 4, 8, 8), torch.tensor(500.0), torch.randn(2, 77, width)),
            os.path.join(out, "unet", "model.onnx"), ["sample", "timestep", "encoder_hidden_states"], ["out_sample"],
            {"sample": {0: "batch_size", 2: "height", 3: "width"}, "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"},
             "out_sample": {0: "batch_size", 2: "height", 3: "width"}})
    _export(VaeEncoderExport(vae), (torch.randn(1, 3, 32, 32),), os.path.join(out, "vae_encoder", "model.onnx"), ["sample"],
            ["latent_parameters"], {"sample": {0: "batch_size", 2: "sample_height", 3: "sample_width"},
                                    "latent_parameters": {0: "batch_size", 2: "latent_height", 3: "latent_width"}})
    _export(VaeDecoderExport(vae), (torch.randn(1, 4, 8, 8),), os.path.join(out, "vae_decoder", "model.onnx"), ["latent_sample"],
            ["sample"], {"latent_sample": {0: "batch_size", 2: "latent_height", 3: "latent_width"},
                         "sample": {0: "batch_size", 2: "sample_height", 3: "sample_width"}})

    vae_config = json.loads(vae.to_json_string())
    for part in ("vae_encoder", "vae_decoder"):
        _json(os.path.join(out, part, "config.json"), vae_config)
    _json(os.path.join(out, "unet", "config.json"), json.loads(unet.to_json_string()))
    t = text.config
    _json(os.path.join(out, "text_encoder", "config.json"), {
        "architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05,
        "vocab_size": t["vocab_size"], "hidden_size": t["hidden_size"], "intermediate_size": t["intermediate_size"],
        "num_hidden_layers": t["num_hidden_layers"], "num_attention_heads": t["num_attention_heads"],
        "max_position_embeddings": t["max_position_embeddings"], "projection_dim": t["hidden_size"], "bos_token_id": 49406,
        "eos_token_id": 2, "pad_token_id": 1, "torch_dtype": "float32",
        "_note": "a small CLIP-shaped text encoder trained with this model (tools/tiny-sd/text_encoder.py); the token table is stored in float16"})
    _json(os.path.join(out, "scheduler", "scheduler_config.json"), scheduler_config())
    _json(os.path.join(out, "model_index.json"), {
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.40.0.dev0", "feature_extractor": [None, None],
        "image_encoder": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
        "scheduler": ["diffusers", "DDIMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]})
    for root, _, files in os.walk(out):
        for f in sorted(files):
            p = os.path.join(root, f)
            print(f"{os.path.relpath(p, C.ROOT)}: {os.path.getsize(p):,} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.path.join(C.ROOT, ".scratch", "tiny-sd"))
    ap.add_argument("--results", default=os.path.join(C.HERE, "results"))
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    scaling = json.load(open(os.path.join(args.results, "training.json")))["scaling_factor"]
    export_all(args.work, scaling, args.out)


if __name__ == "__main__":
    main()
