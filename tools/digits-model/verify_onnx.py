#!/usr/bin/env python3
"""Check the exported ONNX files: onnx.checker, opset, input/output names
and types, single file (no external data), size, and that onnxruntime gives
the torch outputs (batch of 3, different timesteps incl. a fractional one,
labels incl. 10 = unconditional). Writes a JSON report and exits non-zero on
a failure."""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet import DigitsUNet  # noqa: E402
from train_classifier import DigitClassifier  # noqa: E402


def io_desc(m):
    import onnx

    def d(v):
        tt = v.type.tensor_type
        return {"name": v.name, "dtype": onnx.TensorProto.DataType.Name(tt.elem_type),
                "shape": [x.dim_param or x.dim_value for x in tt.shape.dim]}
    init = {i.name for i in m.graph.initializer}
    return [d(v) for v in m.graph.input if v.name not in init], [d(v) for v in m.graph.output]


def check_file(path):
    import onnx
    m = onnx.load(path)
    onnx.checker.check_model(m)
    ext = [t.name for t in m.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    ins, outs = io_desc(m)
    return m, {"path": path, "bytes": os.path.getsize(path), "external_data": ext,
               "opset": [{"domain": o.domain, "version": o.version} for o in m.opset_import],
               "inputs": ins, "outputs": outs}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--unet-onnx", default="models/digits/unet/model.onnx")
    ap.add_argument("--unet-checkpoint", default=".scratch/unet_ema.pt")
    ap.add_argument("--classifier-onnx", default="models/classifier/model.onnx")
    ap.add_argument("--classifier-checkpoint", default=".scratch/classifier.pt")
    ap.add_argument("--report", default="")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    import onnxruntime as ort
    rep = {"onnxruntime": ort.__version__, "torch": str(torch.__version__)}
    ok = True
    torch.manual_seed(0)

    if a.unet_onnx:
        _, info = check_file(a.unet_onnx)
        ck = torch.load(a.unet_checkpoint, map_location="cpu")
        c = ck["config"]
        net = DigitsUNet(c["channels"], c["num_res"], c["attn_levels"], c["dropout"], c["num_classes"], c["heads"])
        net.load_state_dict(ck["ema"])
        net.eval()
        x = torch.randn(3, 1, 28, 28)
        t = torch.tensor([999.0, 412.5, 3.0])
        y = torch.tensor([7, 10, 0], dtype=torch.int64)
        with torch.no_grad():
            ref = net(x, t, y).numpy()
        s = ort.InferenceSession(a.unet_onnx, providers=["CPUExecutionProvider"])
        out = s.run(["out_sample"], {"sample": x.numpy(), "timestep": t.numpy(), "class_labels": y.numpy()})[0]
        info["max_abs_diff_vs_torch"] = float(np.abs(out - ref).max())
        info["ref_abs_max"] = float(np.abs(ref).max())
        # batch 1 and batch 5 run too (dynamic batch)
        for b in (1, 5):
            o = s.run(None, {"sample": np.random.randn(b, 1, 28, 28).astype(np.float32),
                             "timestep": np.full(b, 500, np.float32),
                             "class_labels": np.arange(b, dtype=np.int64) % 11})[0]
            assert o.shape == (b, 1, 28, 28), o.shape
        want_in = [("sample", "FLOAT"), ("timestep", "FLOAT"), ("class_labels", "INT64")]
        got_in = [(i["name"], i["dtype"]) for i in info["inputs"]]
        good = (got_in == want_in and [o["name"] for o in info["outputs"]] == ["out_sample"]
                and not info["external_data"] and info["max_abs_diff_vs_torch"] < a.tol
                and info["bytes"] < 10 * 1024 * 1024)
        info["ok"] = bool(good)
        ok &= good
        rep["unet"] = info
        print("unet", json.dumps(info), flush=True)

    if a.classifier_onnx:
        _, info = check_file(a.classifier_onnx)
        net = DigitClassifier()
        net.load_state_dict(torch.load(a.classifier_checkpoint, map_location="cpu")["model"])
        net.eval()
        x = torch.rand(3, 1, 28, 28) * 2 - 1
        with torch.no_grad():
            rl, rf = net(x)
        s = ort.InferenceSession(a.classifier_onnx, providers=["CPUExecutionProvider"])
        l, f = s.run(["logits", "features"], {"image": x.numpy()})
        info["max_abs_diff_logits"] = float(np.abs(l - rl.numpy()).max())
        info["max_abs_diff_features"] = float(np.abs(f - rf.numpy()).max())
        good = (not info["external_data"] and info["max_abs_diff_logits"] < a.tol * 10
                and info["max_abs_diff_features"] < a.tol * 10
                and [i["name"] for i in info["inputs"]] == ["image"]
                and [o["name"] for o in info["outputs"]] == ["logits", "features"])
        info["ok"] = bool(good)
        ok &= good
        rep["classifier"] = info
        print("classifier", json.dumps(info), flush=True)

    rep["ok"] = bool(ok)
    if a.report:
        with open(a.report, "w") as fh:
            json.dump(rep, fh, indent=2)
    print("VERIFY", "OK" if ok else "FAILED", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
