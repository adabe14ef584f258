#!/usr/bin/env python3
"""Evaluate the digits diffusion model with the digit classifier.

DDIM (eta 0, the scheduler config's timestep spacing and clipping) with
classifier-free guidance eps = eps_u + w (eps_c - eps_u); 100 samples per
class from fixed-seed noise; the classifier gives per-class and overall
accuracy, and the Fréchet distance between the classifier features of the
samples and of the 10,000 real digits (models/classifier/feature_stats.json).

Backends: torch (the EMA checkpoint written by train_unet.py, CUDA when
available) or onnx (models/*/model.onnx through onnxruntime). With torch,
--onnx-check also samples one digit per class through onnxruntime from the
same noise and reports the largest difference.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from unet import DigitsUNet  # noqa: E402
from train_classifier import DigitClassifier  # noqa: E402


def ort_session(path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", default="models/digits")
    ap.add_argument("--classifier-dir", default="models/classifier")
    ap.add_argument("--unet-checkpoint", default=".scratch/unet_ema.pt")
    ap.add_argument("--classifier-checkpoint", default=".scratch/classifier.pt")
    ap.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=3.0)
    ap.add_argument("--extra", default="1:20,5:20,3:50",
                    help="further guidance:steps settings to measure (comma-separated, '' = none)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--grid", default="docs/images/digits-grid-python.png")
    ap.add_argument("--metrics", default="tools/digits-model/results/metrics.json")
    ap.add_argument("--onnx-check", action="store_true")
    ap.add_argument("--device", default="auto")
    a = ap.parse_args()

    dev = common.pick_device(a.device) if a.backend == "torch" else torch.device("cpu")
    sched = json.load(open(os.path.join(a.model_dir, "scheduler", "scheduler_config.json")))
    dd = dict(spacing=sched["timestep_spacing"], clip_sample=sched["clip_sample"],
              clip_range=sched.get("clip_sample_range", 1.0), set_alpha_to_one=sched["set_alpha_to_one"],
              steps_offset=sched.get("steps_offset", 0))
    stats = json.load(open(os.path.join(a.classifier_dir, "feature_stats.json")))["all"]
    mu_real, cov_real = np.array(stats["mean"]), np.array(stats["cov"])

    if a.backend == "torch":
        ck = torch.load(a.unet_checkpoint, map_location="cpu")
        cfg = ck["config"]
        unet = DigitsUNet(cfg["channels"], cfg["num_res"], cfg["attn_levels"], cfg["dropout"],
                          cfg["num_classes"], cfg["heads"])
        unet.load_state_dict(ck["ema"])
        unet.to(dev).eval()
        clf = DigitClassifier()
        clf.load_state_dict(torch.load(a.classifier_checkpoint, map_location="cpu")["model"])
        clf.to(dev).eval()

        def eps_fn(x, t, y):
            return unet(x, t, y)

        def classify(x):
            with torch.no_grad():
                l, f = clf(x.to(dev))
            return l.float().cpu().numpy(), f.float().cpu().numpy()
    else:
        su = ort_session(os.path.join(a.model_dir, "unet", "model.onnx"))
        sc = ort_session(os.path.join(a.classifier_dir, "model.onnx"))

        def eps_fn(x, t, y):
            out = su.run(["out_sample"], {"sample": x.numpy(), "timestep": t.numpy(), "class_labels": y.numpy()})
            return torch.from_numpy(out[0])

        def classify(x):
            l, f = sc.run(["logits", "features"], {"image": x.numpy().astype(np.float32)})
            return l, f

    labels = torch.arange(10).repeat_interleave(a.per_class)
    gen = torch.Generator().manual_seed(a.seed)
    noise = torch.randn((len(labels), 1, 28, 28), generator=gen)

    def sample(w, steps, x_noise=noise, y=labels, fn=eps_fn, device=dev):
        out = []
        bs = 500
        for i in range(0, len(y), bs):
            out.append(common.ddim_sample(fn, x_noise[i:i + bs].to(device), y[i:i + bs].to(device),
                                          num_steps=steps, guidance=w, **dd).float().cpu())
        return torch.cat(out).clamp(-1, 1)

    def measure(w, steps):
        t0 = time.time()
        x = sample(w, steps)
        secs = time.time() - t0
        logits, feats = [], []
        for i in range(0, len(x), 500):
            l, f = classify(x[i:i + 500])
            logits.append(l)
            feats.append(f)
        logits, feats = np.concatenate(logits), np.concatenate(feats)
        pred = logits.argmax(1)
        yl = labels.numpy()
        per_class = [float((pred[yl == c] == c).mean()) for c in range(10)]
        mu, cov = common.feature_stats(feats)
        fd = common.frechet_distance(mu, cov, mu_real, cov_real)
        r = {"guidance": w, "steps": steps, "samples": len(yl), "accuracy": float((pred == yl).mean()),
             "per_class_accuracy": [round(p, 4) for p in per_class], "frechet_distance": round(fd, 4),
             "sampling_seconds": round(secs, 2)}
        print(f"guidance {w} steps {steps}: accuracy {r['accuracy']:.4f} FD {fd:.4f} "
              f"per class {np.round(per_class, 3).tolist()} ({secs:.1f}s)", flush=True)
        return r, x

    main_r, x = measure(a.guidance, a.steps)
    results = {"backend": a.backend, "device": str(dev), "seed": a.seed, "scheduler": dd,
               "main": main_r, "extra": []}
    for item in [s for s in a.extra.split(",") if s]:
        w, s = item.split(":")
        results["extra"].append(measure(float(w), int(s))[0])

    # grid: one row per label, the first 10 samples of each class
    cols = min(10, a.per_class)
    grid_imgs = torch.cat([x[c * a.per_class: c * a.per_class + cols] for c in range(10)])[:, 0].numpy()
    if a.grid:
        os.makedirs(os.path.dirname(os.path.abspath(a.grid)), exist_ok=True)
        common.write_png_gray(a.grid, common.make_grid(grid_imgs, 10, cols))
        print("wrote", a.grid)

    if a.onnx_check and a.backend == "torch":
        su = ort_session(os.path.join(a.model_dir, "unet", "model.onnx"))
        sc = ort_session(os.path.join(a.classifier_dir, "model.onnx"))

        def ort_eps(xx, t, y):
            return torch.from_numpy(su.run(["out_sample"], {"sample": xx.numpy(), "timestep": t.numpy(),
                                                           "class_labels": y.numpy()})[0])
        idx = torch.arange(10) * a.per_class
        t0 = time.time()
        xo = common.ddim_sample(ort_eps, noise[idx], labels[idx], num_steps=a.steps, guidance=a.guidance,
                                **dd).clamp(-1, 1)
        unet_cpu = unet.float().cpu()
        xt = common.ddim_sample(lambda xx, t, y: unet_cpu(xx, t, y), noise[idx], labels[idx],
                                num_steps=a.steps, guidance=a.guidance, **dd).clamp(-1, 1)
        lo, fo = sc.run(["logits", "features"], {"image": xo.numpy()})
        with torch.no_grad():
            lt, ft = clf.float().cpu()(xo)
        results["onnx_check"] = {
            "samples": 10,
            "max_abs_diff_sample_onnx_vs_torch_cpu_fp32": float((xo - xt).abs().max()),
            "max_abs_diff_sample_onnx_vs_torch_eval_device": float((xo - x[idx]).abs().max()),
            "onnx_sample_predictions": lo.argmax(1).tolist(),
            "classifier_max_abs_diff_logits": float(np.abs(lo - lt.numpy()).max()),
            "classifier_max_abs_diff_features": float(np.abs(fo - ft.numpy()).max()),
            "seconds": round(time.time() - t0, 1),
        }
        print("onnx check", json.dumps(results["onnx_check"]), flush=True)

    if a.metrics:
        common.save_json(a.metrics, results)
        print("wrote", a.metrics)


if __name__ == "__main__":
    main()
