#!/usr/bin/python3
r"""Closed-form (exact) diffusion "UNets" as small ONNX files, for SDK tests.

Every network written here computes, in closed form, the exact denoiser of a
data distribution whose posterior is known analytically, so a test can check
an ONNX model (and everything around it: input naming, timestep types and
shapes, float16, external data, ...) against the same formula computed in C#.

Regenerate (Debian: apt-get install python3-onnx python3-numpy):

    /usr/bin/python3 tools/closed-form-models/make_models.py          # write all files
    /usr/bin/python3 tools/closed-form-models/make_models.py --check  # verify, write nothing

Output: tests/Sdk.Tests/TestData/models/*.onnx, gaussian-eps-external/ and
manifest.json.  Generation is deterministic (byte-identical on every run).

Schedule
--------
Linear betas, 1000 training steps (computed in float64):

    beta_t      = linspace(1e-4, 0.02, 1000)[t]
    abar_t      = prod_{i<=t} (1 - beta_i)            ("alphas_cumprod")
    logsigma_t  = 0.5 * log((1 - abar_t) / abar_t)    (float32 table, length 1000, in the graph)

For a timestep t of any numeric type (cast to float32), the graph clamps t to
[0, 999], sets i = floor(t), j = min(i + 1, 999), f = t - i and

    logsigma = logsigma_i + f * (logsigma_j - logsigma_i)
    sigma    = exp(logsigma)
    abar     = 1 / (1 + sigma^2),   1 - abar = sigma^2 * abar,
    sqrt(abar) = 1 / sqrt(1 + sigma^2),   sqrt(1 - abar) = sigma * sqrt(abar).

For integer t this is the table value; for a fractional t it is the inverse of
the log-sigma interpolation Euler-type (k-diffusion) samplers use to map a
sigma to a timestep, so the network stays exact for those samplers too.

Forward process: x_t = sqrt(abar) x0 + sqrt(1 - abar) eps, eps ~ N(0, I).

Gaussian data (per element x0 ~ N(mu, s^2), mu = 0.5, s = 0.2)
--------------------------------------------------------------
x_t ~ N(sqrt(abar) mu, V) per element with V = abar s^2 + 1 - abar, and
(x0, eps, x_t) are jointly Gaussian, so the MMSE predictions are linear:

    Cov(eps, x_t) = sqrt(1 - abar)          =>  eps_hat = sqrt(1 - abar) (x_t - sqrt(abar) mu) / V
    Cov(x0,  x_t) = sqrt(abar) s^2          =>  x0_hat  = mu + sqrt(abar) s^2 (x_t - sqrt(abar) mu) / V

(consistent: x_t = sqrt(abar) x0_hat + sqrt(1 - abar) eps_hat).  Neither form
divides by sqrt(abar) or sqrt(1 - abar), so both are finite for all t.

Two-component Gaussian mixture with class labels (per batch item)
----------------------------------------------------------------
x0 ~ sum_k pi_k N(mu_k 1, s^2 I) over the whole item (d = C*H*W elements),
K = 2, pi = (0.5, 0.5), mu = (-0.5, +0.5), s = 0.2; class k = component k.
Given component k, x_t ~ N(sqrt(abar) mu_k 1, V I), so the responsibilities are

    r_k = softmax_k( log pi_k - ||x_t - sqrt(abar) mu_k 1||^2 / (2 V) )
        = softmax_k( log pi_k + sum_elements sqrt(abar) mu_k (x_t - sqrt(abar) mu_k / 2) / V )

(the second line drops ||x_t||^2 / (2V), which is common to all k and cancels
in the softmax; the graph uses it, with a ReduceSum over axes [1,2,3] and a
max-subtracted softmax, because it avoids cancelling two large sums).
Within a component the Gaussian result applies, so with the per-item mean
m = sum_k r_k mu_k:

    E[x0 | x_t] = sum_k r_k (mu_k + sqrt(abar) s^2 (x_t - sqrt(abar) mu_k) / V)
                = m + sqrt(abar) s^2 (x_t - sqrt(abar) m) / V
    eps_hat     = (x_t - sqrt(abar) E[x0 | x_t]) / sqrt(1 - abar)
                = sum_k r_k sqrt(1 - abar) (x_t - sqrt(abar) mu_k) / V
                = sqrt(1 - abar) (x_t - sqrt(abar) m) / V

class_labels (int64 [B]): 0 or 1 conditions on that component (r = one-hot);
2 (= K, the diffusers "null class" convention) means unconditional (mixture
responsibilities).  Any other value outside [0, K) is treated as 2 as well.

Prediction types
----------------
    epsilon       out = eps_hat
    sample        out = x0_hat = E[x0 | x_t]
    v_prediction  out = sqrt(abar) eps_hat - sqrt(1 - abar) x0_hat
                  (v = sqrt(abar) eps - sqrt(1 - abar) x0 with x0_hat used
                   directly, not recomputed by dividing by sqrt(abar))

Model conventions
-----------------
diffusers-exported UNet naming: inputs `sample` float32 [batch, C, height,
width] (C fixed, batch/height/width dynamic), `timestep`, `class_labels`
int64 [batch] (mixture only), `encoder_hidden_states` (ehs variant only);
output `out_sample` with the shape of `sample`.  Opset 17, IR version 8.
The float16 model (gaussian-eps-fp16.onnx) takes sample float16 and timestep
float16 [batch] and returns out_sample float16; inside it computes in float32
(Cast at the boundaries).  See manifest.json for the exact per-file details.
"""

import argparse
import filecmp
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# --------------------------------------------------------------------------- constants

OPSET = 17
IR_VERSION = 8
NUM_TRAIN_TIMESTEPS = 1000
BETA_START = 1e-4
BETA_END = 0.02

GAUSS_MU = 0.5
GAUSS_S = 0.2

MIX_PI = (0.5, 0.5)
MIX_MU = (-0.5, 0.5)
MIX_S = 0.2
MIX_K = 2
UNCONDITIONAL_LABEL = 2

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.path.join(REPO_ROOT, "tests", "Sdk.Tests", "TestData", "models")

SCHEDULE = {
    "beta_schedule": "linear",
    "beta_start": BETA_START,
    "beta_end": BETA_END,
    "num_train_timesteps": NUM_TRAIN_TIMESTEPS,
    "timestep_interpolation": "linear in log(sigma) between floor(t) and min(floor(t)+1, 999), t clamped to [0, 999]",
}


def alphas_cumprod():
    betas = np.linspace(BETA_START, BETA_END, NUM_TRAIN_TIMESTEPS, dtype=np.float64)
    return np.cumprod(1.0 - betas)


def log_sigma_table():
    a = alphas_cumprod()
    return 0.5 * np.log((1.0 - a) / a)


# --------------------------------------------------------------------------- numpy reference (float64)

def ref_coeffs(t):
    """abar, sqrt(abar), sqrt(1-abar), 1-abar for timesteps t (float64 array), same interpolation as the graph."""
    table = log_sigma_table()
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, NUM_TRAIN_TIMESTEPS - 1)
    i = np.floor(t).astype(np.int64)
    j = np.minimum(i + 1, NUM_TRAIN_TIMESTEPS - 1)
    f = t - i
    ls = table[i] + f * (table[j] - table[i])
    sig2 = np.exp(2.0 * ls)
    abar = 1.0 / (1.0 + sig2)
    return abar, np.sqrt(abar), np.sqrt(sig2) * np.sqrt(abar), sig2 * abar


def ref_gaussian_like(x, m, s, t, prediction):
    """x [B,...], m per-item mean [B] (or scalar), t [B]."""
    x = np.asarray(x, dtype=np.float64)
    shp = (x.shape[0],) + (1,) * (x.ndim - 1)
    abar, sa, s1a, oma = (c.reshape(shp) for c in ref_coeffs(np.broadcast_to(t, (x.shape[0],))))
    m = np.broadcast_to(np.asarray(m, dtype=np.float64), (x.shape[0],)).reshape(shp)
    var = abar * s * s + oma
    diff = x - sa * m
    eps = s1a * diff / var
    x0 = m + sa * s * s * diff / var
    if prediction == "epsilon":
        return eps
    if prediction == "sample":
        return x0
    if prediction == "v_prediction":
        return sa * eps - s1a * x0
    raise ValueError(prediction)


def ref_responsibilities(x, t, labels):
    x = np.asarray(x, dtype=np.float64)
    b = x.shape[0]
    abar, sa, _, oma = ref_coeffs(np.broadcast_to(t, (b,)))
    var = abar * MIX_S ** 2 + oma
    flat = x.reshape(b, -1)
    logits = np.stack(
        [math.log(MIX_PI[k]) - ((flat - sa[:, None] * MIX_MU[k]) ** 2).sum(1) / (2 * var) for k in range(MIX_K)], 1)
    logits -= logits.max(1, keepdims=True)
    r = np.exp(logits)
    r /= r.sum(1, keepdims=True)
    labels = np.asarray(labels)
    for n in range(b):
        if 0 <= labels[n] < MIX_K:
            r[n] = 0.0
            r[n, labels[n]] = 1.0
    return r


def ref_model(spec, x, t, labels=None):
    if spec.data == "gaussian":
        return ref_gaussian_like(x, GAUSS_MU, GAUSS_S, t, spec.prediction)
    r = ref_responsibilities(x, t, labels)
    m = r @ np.asarray(MIX_MU, dtype=np.float64)
    return ref_gaussian_like(x, m, MIX_S, t, spec.prediction)


# --------------------------------------------------------------------------- graph building

class Builder:
    def __init__(self):
        self.nodes = []
        self.inits = []
        self.n = 0

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, name, value, dtype=np.float32):
        arr = np.asarray(value, dtype=dtype)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def const_node(self, name, value, dtype=np.int64):
        """A Constant node: stays inline in the graph even when initializers go to external data
        (shape/axes inputs must be readable by shape inference and graph optimizers)."""
        arr = np.asarray(value, dtype=dtype)
        self.nodes.append(helper.make_node("Constant", [], [name], name=self.name("n_Constant"),
                                           value=numpy_helper.from_array(arr, name)))
        return name

    def op(self, op_type, inputs, out=None, **attrs):
        out = out or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.name("n_" + op_type), **attrs))
        return out


def build_coeffs(b, t_in, t_type):
    """Nodes turning the timestep input into [N,1,1,1] float32 abar, sqrt(abar), sqrt(1-abar), 1-abar."""
    b.const("log_sigma_table", log_sigma_table().astype(np.float32))
    b.const("t_min", 0.0)
    b.const("t_max", float(NUM_TRAIN_TIMESTEPS - 1))
    b.const("idx_max", NUM_TRAIN_TIMESTEPS - 1, np.int64)
    b.const("one_i64", 1, np.int64)
    b.const("one_f", 1.0)
    b.const("two_f", 2.0)
    b.const_node("shape_flat", [-1], np.int64)
    b.const_node("shape_b111", [-1, 1, 1, 1], np.int64)

    t = t_in if t_type == TensorProto.FLOAT else b.op("Cast", [t_in], "t_f32", to=TensorProto.FLOAT)
    t = b.op("Reshape", [t, "shape_flat"], "t_flat")                 # [] / [1] / [B] -> [N]
    t = b.op("Clip", [t, "t_min", "t_max"], "t_clamped")
    tf = b.op("Floor", [t], "t_floor")
    i = b.op("Cast", [tf], "t_i", to=TensorProto.INT64)
    j = b.op("Min", [b.op("Add", [i, "one_i64"]), "idx_max"], "t_j")
    frac = b.op("Sub", [t, tf], "t_frac")
    li = b.op("Gather", ["log_sigma_table", i], "logsig_i", axis=0)
    lj = b.op("Gather", ["log_sigma_table", j], "logsig_j", axis=0)
    ls = b.op("Add", [li, b.op("Mul", [frac, b.op("Sub", [lj, li])])], "log_sigma")
    ls = b.op("Reshape", [ls, "shape_b111"], "log_sigma_b111")
    sigma = b.op("Exp", [ls], "sigma")
    sig2 = b.op("Exp", [b.op("Mul", [ls, "two_f"])], "sigma2")
    abar = b.op("Div", ["one_f", b.op("Add", ["one_f", sig2])], "abar")
    sa = b.op("Sqrt", [abar], "sqrt_abar")
    s1a = b.op("Mul", [sigma, sa], "sqrt_one_minus_abar")
    oma = b.op("Mul", [sig2, abar], "one_minus_abar")
    return abar, sa, s1a, oma


def build_posterior(b, x, m, s, abar, sa, s1a, oma, prediction, out):
    """Gaussian-posterior outputs for per-element prior N(m, s^2); m is a tensor name broadcastable to x."""
    b.const("s2", s * s)
    var = b.op("Add", [b.op("Mul", [abar, "s2"]), oma], "var")
    diff = b.op("Sub", [x, b.op("Mul", [sa, m])], "centered")
    scaled = b.op("Div", [diff, var], "centered_over_var")
    if prediction == "epsilon":
        return b.op("Mul", [s1a, scaled], out)
    x0 = b.op("Add", [m, b.op("Mul", [b.op("Mul", [sa, "s2"]), scaled])], "x0_hat" if prediction != "sample" else out)
    if prediction == "sample":
        return x0
    eps = b.op("Mul", [s1a, scaled], "eps_hat")
    return b.op("Sub", [b.op("Mul", [sa, eps]), b.op("Mul", [s1a, x0])], out)


def build_mixture_mean(b, x, labels, sa, abar, oma):
    """Per-item mean m = sum_k r_k mu_k, shape [B,1,1,1]."""
    b.const("mix_s2", MIX_S * MIX_S)
    b.const("half_f", 0.5)
    b.const("mix_mu_1k11", np.asarray(MIX_MU).reshape(1, MIX_K, 1, 1))
    b.const("class_ids_1k11", np.arange(MIX_K).reshape(1, MIX_K, 1, 1), np.int64)
    b.const("label_lo", 0, np.int64)
    b.const("label_hi", MIX_K, np.int64)
    b.const_node("axes_chw", [1, 2, 3], np.int64)
    b.const_node("axes_k", [1], np.int64)
    var = b.op("Add", [b.op("Mul", [abar, "mix_s2"]), oma], "mix_var")
    logits = []
    for k in range(MIX_K):
        b.const(f"mu_{k}", MIX_MU[k])
        b.const(f"log_pi_{k}", math.log(MIX_PI[k]))
        a_mu = b.op("Mul", [sa, f"mu_{k}"], f"sqrt_abar_mu_{k}")             # [B,1,1,1]
        term = b.op("Mul", [a_mu, b.op("Sub", [x, b.op("Mul", [a_mu, "half_f"])])])
        ssum = b.op("ReduceSum", [term, "axes_chw"], f"sum_{k}", keepdims=1)  # [B,1,1,1]
        logits.append(b.op("Add", [f"log_pi_{k}", b.op("Div", [ssum, var])], f"logit_{k}"))
    lg = b.op("Concat", logits, "logits", axis=1)                              # [B,K,1,1]
    mx = b.op("ReduceMax", [lg], "logits_max", axes=[1], keepdims=1)
    e = b.op("Exp", [b.op("Sub", [lg, mx])], "logits_exp")
    r_mix = b.op("Div", [e, b.op("ReduceSum", [e, "axes_k"], "logits_exp_sum", keepdims=1)], "r_mixture")

    lab = b.op("Reshape", [labels, "shape_b111"], "labels_b111")
    onehot = b.op("Cast", [b.op("Equal", [lab, "class_ids_1k11"])], "r_onehot", to=TensorProto.FLOAT)
    in_range = b.op("And", [b.op("GreaterOrEqual", [lab, "label_lo"]), b.op("Less", [lab, "label_hi"])], "label_is_class")
    r = b.op("Where", [in_range, onehot, r_mix], "responsibilities")
    return b.op("ReduceSum", [b.op("Mul", [r, "mix_mu_1k11"]), "axes_k"], "posterior_component_mean", keepdims=1)


# --------------------------------------------------------------------------- model specs

ONNX_TYPE_NAMES = {TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16",
                   TensorProto.INT64: "int64", TensorProto.INT32: "int32"}


class Spec:
    def __init__(self, file, data="gaussian", prediction="epsilon", channels=1,
                 sample_name="sample", timestep_name="timestep", output_name="out_sample",
                 t_type=TensorProto.FLOAT, t_shape="b", io_type=TensorProto.FLOAT,
                 fixed_batch=None, ehs=False, external=False, description=""):
        self.__dict__.update(locals())
        del self.__dict__["self"]

    @property
    def batch_dim(self):
        return self.fixed_batch if self.fixed_batch else "batch"

    def sample_shape(self):
        return [self.batch_dim, self.channels, "height", "width"]

    def timestep_shape(self):
        return {"scalar": [], "1": [1], "b": [self.batch_dim]}[self.t_shape]

    def inputs(self):
        ins = [("sample", self.sample_name, self.io_type, self.sample_shape()),
               ("timestep", self.timestep_name, self.t_type, self.timestep_shape())]
        if self.data == "mixture":
            ins.append(("class_labels", "class_labels", TensorProto.INT64, [self.batch_dim]))
        if self.ehs:
            ins.append(("encoder_hidden_states", "encoder_hidden_states", TensorProto.FLOAT, [self.batch_dim, 77, 8]))
        return ins


def data_description(spec):
    if spec.data == "gaussian":
        return {"kind": "gaussian", "mu": GAUSS_MU, "s": GAUSS_S}
    return {"kind": "mixture", "num_components": MIX_K, "pi": list(MIX_PI), "mu": list(MIX_MU), "s": MIX_S,
            "unconditional_label": UNCONDITIONAL_LABEL}


def build_model(spec):
    b = Builder()
    ins = spec.inputs()
    names = {role: name for role, name, _, _ in ins}
    x = names["sample"]
    if spec.io_type != TensorProto.FLOAT:
        x = b.op("Cast", [x], "sample_f32", to=TensorProto.FLOAT)
    abar, sa, s1a, oma = build_coeffs(b, names["timestep"], spec.t_type)

    final_out = spec.output_name
    needs_post = spec.io_type != TensorProto.FLOAT or spec.ehs
    out = "out_f32" if needs_post else final_out
    if spec.data == "gaussian":
        m = b.const("mu", GAUSS_MU)
        s = GAUSS_S
    else:
        m = build_mixture_mean(b, x, names["class_labels"], sa, abar, oma)
        s = MIX_S
    y = build_posterior(b, x, m, s, abar, sa, s1a, oma, spec.prediction, out)
    if spec.ehs:
        # Consume encoder_hidden_states numerically as +0 * sum(ehs) so runtimes keep the input.
        b.const("zero_f", 0.0)
        z = b.op("Mul", [b.op("ReduceSum", [names["encoder_hidden_states"]], "ehs_sum", keepdims=0), "zero_f"], "ehs_zero")
        y = b.op("Add", [y, z], "out_f32_ehs" if spec.io_type != TensorProto.FLOAT else final_out)
    if spec.io_type != TensorProto.FLOAT:
        y = b.op("Cast", [y], final_out, to=spec.io_type)
    assert y == final_out

    graph_inputs = [helper.make_tensor_value_info(name, et, shape) for _, name, et, shape in ins]
    graph_outputs = [helper.make_tensor_value_info(final_out, spec.io_type, spec.sample_shape())]
    graph = helper.make_graph(b.nodes, spec.file.replace("/", "_").replace(".onnx", ""), graph_inputs,
                              graph_outputs, initializer=b.inits, doc_string=spec.description)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="closed-form-models", producer_version="1",
                              doc_string=f"Closed-form {spec.data} {spec.prediction} denoiser "
                                         f"(see tools/closed-form-models/make_models.py). {spec.description}")
    model.ir_version = IR_VERSION
    meta = {
        "prediction_type": spec.prediction,
        "data": json.dumps(data_description(spec), sort_keys=True),
        "schedule": json.dumps(SCHEDULE, sort_keys=True),
        "generator": "tools/closed-form-models/make_models.py",
    }
    if spec.data == "gaussian":
        meta.update({"mu": repr(GAUSS_MU), "s": repr(GAUSS_S)})
    else:
        meta.update({"pi": json.dumps(list(MIX_PI)), "mu": json.dumps(list(MIX_MU)), "s": repr(MIX_S),
                     "unconditional_label": str(UNCONDITIONAL_LABEL)})
    helper.set_model_props(model, meta)
    return model


def specs():
    F, H, I64, I32 = TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.INT64, TensorProto.INT32
    return [
        Spec("gaussian-eps.onnx", description="Gaussian data, epsilon prediction, timestep float32 [batch]."),
        Spec("gaussian-v.onnx", prediction="v_prediction", description="Gaussian data, v prediction."),
        Spec("gaussian-x0.onnx", prediction="sample", description="Gaussian data, sample (x0) prediction."),
        Spec("gaussian-eps-c4.onnx", channels=4, description="Gaussian data, epsilon prediction, 4 channels."),
        Spec("mixture-eps.onnx", data="mixture",
             description="Two-component Gaussian mixture with class labels, epsilon prediction."),
        Spec("mixture-v.onnx", data="mixture", prediction="v_prediction",
             description="Two-component Gaussian mixture with class labels, v prediction."),
        Spec("mixture-x0.onnx", data="mixture", prediction="sample",
             description="Two-component Gaussian mixture with class labels, sample (x0) prediction."),
        Spec("gaussian-eps-t-int64-scalar.onnx", t_type=I64, t_shape="scalar", description="timestep int64 []."),
        Spec("gaussian-eps-t-int64-1.onnx", t_type=I64, t_shape="1", description="timestep int64 [1]."),
        Spec("gaussian-eps-t-int64-b.onnx", t_type=I64, description="timestep int64 [batch]."),
        Spec("gaussian-eps-t-int32-b.onnx", t_type=I32, description="timestep int32 [batch]."),
        Spec("gaussian-eps-t-float16-b.onnx", t_type=H, description="timestep float16 [batch]."),
        Spec("gaussian-eps-t-float32-scalar.onnx", t_shape="scalar", description="timestep float32 []."),
        Spec("gaussian-eps-renamed.onnx", sample_name="x", timestep_name="t", output_name="eps",
             description="Non-diffusers names: inputs x, t; output eps."),
        Spec("gaussian-eps-ehs.onnx", ehs=True,
             description="Has an encoder_hidden_states float32 [batch,77,8] input, consumed as +0*sum(ehs)."),
        Spec("gaussian-eps-fixed-batch2.onnx", fixed_batch=2, description="Batch dimension fixed to 2."),
        Spec("gaussian-eps-fp16.onnx", io_type=H, t_type=H,
             description="float16 model: sample float16, timestep float16 [batch], out_sample float16; "
                         "computes in float32 internally."),
        Spec("gaussian-eps-external/model.onnx", external=True,
             description="Like gaussian-eps.onnx, with all initializers (log-sigma table included) "
                         "in external data file model.onnx_data."),
    ]


def shape_json(shape):
    return [d for d in shape]


def manifest(all_specs):
    models = []
    for sp in all_specs:
        models.append({
            "file": sp.file,
            "description": sp.description,
            "prediction_type": sp.prediction,
            "data": data_description(sp),
            "channels": sp.channels,
            "inputs": [{"role": role, "name": name, "type": ONNX_TYPE_NAMES[et], "shape": shape_json(shape)}
                       for role, name, et, shape in sp.inputs()],
            "output": {"name": sp.output_name, "type": ONNX_TYPE_NAMES[sp.io_type], "shape": sp.sample_shape()},
            "fixed_batch": sp.fixed_batch,
            "unconditional_label": UNCONDITIONAL_LABEL if sp.data == "mixture" else None,
            "external_data": "model.onnx_data" if sp.external else None,
        })
    return {
        "generator": "tools/closed-form-models/make_models.py",
        "opset": OPSET,
        "ir_version": IR_VERSION,
        "schedule": SCHEDULE,
        "prediction_types": {
            "epsilon": "eps_hat = sqrt(1-abar) (x - sqrt(abar) m) / V",
            "sample": "x0_hat = m + sqrt(abar) s^2 (x - sqrt(abar) m) / V",
            "v_prediction": "v = sqrt(abar) eps_hat - sqrt(1-abar) x0_hat",
            "where": "V = abar s^2 + 1 - abar; gaussian: m = mu; mixture: m = sum_k r_k mu_k per item "
                     "(r = one-hot of class label, or softmax_k(log pi_k - ||x - sqrt(abar) mu_k||^2 / (2V)) "
                     "for the unconditional label)",
        },
        "models": models,
    }


# --------------------------------------------------------------------------- writing

def write_all(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    all_specs = specs()
    for sp in all_specs:
        model = build_model(sp)
        onnx.checker.check_model(model, full_check=True)
        path = os.path.join(out_dir, sp.file)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if sp.external:
            data_path = os.path.join(os.path.dirname(path), "model.onnx_data")
            if os.path.exists(data_path):
                os.remove(data_path)  # onnx appends to an existing data file
            onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                            location="model.onnx_data", size_threshold=0)
            # (onnx 1.12's check_model(path, full_check=True) rewrites the file with inferred shapes,
            # so check the reloaded proto instead.)
            onnx.checker.check_model(onnx.load(path), full_check=True)
        else:
            onnx.save_model(model, path)
    with open(os.path.join(out_dir, "manifest.json"), "w", newline="\n") as f:
        json.dump(manifest(all_specs), f, indent=2)
        f.write("\n")
    return all_specs


# --------------------------------------------------------------------------- --check: tiny numpy ONNX interpreter

NP_TYPES = {TensorProto.FLOAT: np.float32, TensorProto.FLOAT16: np.float16, TensorProto.INT64: np.int64,
            TensorProto.INT32: np.int32, TensorProto.BOOL: np.bool_, TensorProto.DOUBLE: np.float64}


def run_numpy(model, feeds):
    """Evaluates the handful of ops these graphs use, in the graph's own dtypes."""
    env = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    env.update(feeds)
    binop = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Min": np.minimum,
             "Equal": np.equal, "Less": np.less, "GreaterOrEqual": np.greater_equal, "And": np.logical_and}
    for nd in model.graph.node:
        a = {at.name: helper.get_attribute_value(at) for at in nd.attribute}
        v = [env[n] for n in nd.input]
        t = nd.op_type
        if t in binop:
            r = binop[t](v[0], v[1])
        elif t == "Cast":
            r = v[0].astype(NP_TYPES[a["to"]])
        elif t == "Reshape":
            r = v[0].reshape(v[1])
        elif t == "Clip":
            r = np.clip(v[0], v[1], v[2])
        elif t in ("Floor", "Exp", "Sqrt"):
            r = {"Floor": np.floor, "Exp": np.exp, "Sqrt": np.sqrt}[t](v[0])
        elif t == "Gather":
            r = np.take(v[0], v[1], axis=a.get("axis", 0))
        elif t == "ReduceSum":
            axes = tuple(v[1]) if len(v) > 1 else None
            r = np.sum(v[0], axis=axes, keepdims=bool(a.get("keepdims", 1)))
        elif t == "ReduceMax":
            r = np.max(v[0], axis=tuple(a["axes"]), keepdims=bool(a.get("keepdims", 1)))
        elif t == "Concat":
            r = np.concatenate(v, axis=a["axis"])
        elif t == "Constant":
            r = numpy_helper.to_array(a["value"])
        elif t == "Where":
            r = np.where(v[0], v[1], v[2])
        else:
            raise NotImplementedError(t)
        env[nd.output[0]] = np.asarray(r)
    return [env[o.name] for o in model.graph.output]


def check_inputs(sp, rng):
    b = sp.fixed_batch or 3
    x = rng.standard_normal((b, sp.channels, 4, 5))
    if sp.data == "mixture":
        x += 0.3 * np.where(np.arange(b) % 2 == 0, -1.0, 1.0)[:, None, None, None]
    integer_t = sp.t_type in (TensorProto.INT64, TensorProto.INT32)
    t_sets = [[0, 999, 500], [1, 250, 998]] if integer_t else [[0, 999, 500.5], [1, 250.25, 998.75]]
    label_sets = [[0, 1, 2], [2, 2, 0]]
    cases = []
    for ts, ls in zip(t_sets, label_sets):
        if sp.t_shape == "b":
            cases.append((x, np.asarray((ts * b)[:b]), np.asarray((ls * b)[:b])))
        else:
            for tv in ts:
                cases.append((x, np.asarray([tv] * b), np.asarray((ls * b)[:b])))
    return cases


def check(out_dir):
    ok = True
    rng = np.random.default_rng(1234)
    # 1. The closed forms against independent derivations, in float64.
    for t in [0.0, 1.0, 37.5, 500.0, 999.0]:
        abar, sa, s1a, _ = (c.item() for c in ref_coeffs(np.asarray([t])))
        if t == int(t):
            assert abs(abar - alphas_cumprod()[int(t)]) < 1e-12, "interpolation must hit the table"
        x = rng.standard_normal((2, 1, 3, 2))
        # score by finite differences of log p_t; eps_hat = -sqrt(1-abar) * grad log p_t(x)
        def logp_mix(xx):
            var = abar * MIX_S ** 2 + 1 - abar
            lk = [math.log(p) - ((xx - sa * mu) ** 2).sum() / (2 * var) for p, mu in zip(MIX_PI, MIX_MU)]
            mxl = max(lk)
            return mxl + math.log(sum(math.exp(l - mxl) for l in lk))
        def logp_gauss(xx):
            var = abar * GAUSS_S ** 2 + 1 - abar
            return -((xx - sa * GAUSS_MU) ** 2).sum() / (2 * var)
        for data, logp in (("gaussian", logp_gauss), ("mixture", logp_mix)):
            sp = Spec("x", data=data)
            eps = ref_model(sp, x, np.asarray([t, t]), np.asarray([2, 2]))
            h = 1e-5
            for n in range(2):
                g = np.zeros(x.shape[1:])
                for idx in np.ndindex(*x.shape[1:]):
                    e = np.zeros(x.shape[1:])
                    e[idx] = h
                    g[idx] = (logp(x[n] + e) - logp(x[n] - e)) / (2 * h)
                err = np.abs(eps[n] + s1a * g).max()
                if err > 1e-6:
                    print(f"FAIL score check {data} t={t}: {err:.3g}")
                    ok = False
            # x = sqrt(abar) x0_hat + sqrt(1-abar) eps_hat and v definition
            x0 = ref_model(Spec("x", data=data, prediction="sample"), x, np.asarray([t, t]), np.asarray([2, 2]))
            v = ref_model(Spec("x", data=data, prediction="v_prediction"), x, np.asarray([t, t]), np.asarray([2, 2]))
            if np.abs(sa * x0 + s1a * eps - x).max() > 1e-12 or np.abs(v - (sa * eps - s1a * x0)).max() > 1e-12:
                print(f"FAIL consistency {data} t={t}")
                ok = False
    # 2. Every committed file: checker, shape inference, numpy evaluation vs reference, manifest.
    all_specs = specs()
    for sp in all_specs:
        path = os.path.join(out_dir, sp.file)
        model = onnx.load(path)  # loads external data too
        onnx.checker.check_model(model, full_check=True)
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        out_t = inferred.graph.output[0].type.tensor_type
        assert out_t.elem_type == sp.io_type
        assert model.ir_version == IR_VERSION and model.opset_import[0].version == OPSET
        worst = 0.0
        for x, t, labels in check_inputs(sp, rng):
            ins = sp.inputs()
            feeds = {}
            for role, name, et, shape in ins:
                if role == "sample":
                    feeds[name] = x.astype(NP_TYPES[et])
                elif role == "timestep":
                    tv = t.astype(NP_TYPES[et])
                    feeds[name] = tv if sp.t_shape == "b" else tv[:1].reshape([1] if sp.t_shape == "1" else [])
                elif role == "class_labels":
                    feeds[name] = labels.astype(np.int64)
                else:
                    feeds[name] = rng.standard_normal((x.shape[0], 77, 8)).astype(np.float32)
            (y,) = run_numpy(model, feeds)
            assert y.dtype == NP_TYPES[sp.io_type] and y.shape == x.shape
            xin = feeds[sp.sample_name].astype(np.float64)
            tin = np.broadcast_to(feeds[sp.timestep_name].astype(np.float64).reshape(-1), (x.shape[0],))
            ref = ref_model(sp, xin, tin, labels)
            err = np.abs(y.astype(np.float64) - ref).max() / (1.0 if sp.io_type == TensorProto.FLOAT else
                                                               max(1.0, np.abs(ref).max()))
            worst = max(worst, err)
        tol = 2e-5 if sp.io_type == TensorProto.FLOAT else 5e-3
        status = "ok" if worst <= tol else "FAIL"
        ok &= worst <= tol
        print(f"{status:4} {sp.file:40} max err {worst:.2e} (tol {tol:g})")
    # 3. Files are what this script generates (byte-identical).
    with tempfile.TemporaryDirectory() as tmp:
        write_all(tmp)
        for root, _, files in os.walk(tmp):
            for fn in files:
                rel = os.path.relpath(os.path.join(root, fn), tmp)
                committed = os.path.join(out_dir, rel)
                if not os.path.exists(committed) or not filecmp.cmp(os.path.join(root, fn), committed, shallow=False):
                    print(f"FAIL {rel} differs from the regenerated file (run make_models.py)")
                    ok = False
    print("check passed" if ok else "check FAILED")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="verify the committed files; write nothing")
    ap.add_argument("--out", default=OUT_DIR, help="output folder (default: %(default)s)")
    args = ap.parse_args()
    if args.check:
        sys.exit(0 if check(args.out) else 1)
    for sp in write_all(args.out):
        print("wrote", os.path.join(args.out, sp.file))
    print("wrote", os.path.join(args.out, "manifest.json"))


if __name__ == "__main__":
    main()
