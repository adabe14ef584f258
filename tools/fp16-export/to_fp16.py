#!/usr/bin/env python3
"""Writes a float16 copy of an ONNX model, for the onnx-settings benchmark (float32 against float16 on the CPU).

Two kinds of copy, both with float16 inputs and outputs where the original has float32 ones:

  --mode full     every float32 tensor becomes float16: weights, activations, constants, Casts to float. This is
                  what a half-precision export (`model.half()` before `torch.onnx.export`) produces. Resize's roi and
                  scales stay float32 (the operator requires it).
  --mode weights  the weights are stored as float16 and cast back to float32 inside the graph, which computes in
                  float32 as before (the usual fallback of converters for operators without float16 kernels); the
                  inputs and outputs are float16.

  --mode float32  no conversion: a float32 copy (with --channels, the way to fix an export's channel dimension).

  --channels N    fixes the channel dimension (dimension 1) of the `sample` input and of the outputs to N, for
                  exports that leave it symbolic (the legacy Stable Diffusion UNet says [batch, channels, height,
                  width]); the SDK's loader needs it fixed.

Usage: to_fp16.py MODEL.onnx OUT.onnx [--mode full|weights|float32] [--channels N]   (external weight data is read
from beside MODEL and written into OUT). Needs only Debian's python3-onnx and python3-numpy.
"""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F32, F16 = TensorProto.FLOAT, TensorProto.FLOAT16


def half(tensor):
    """A float16 copy of a float32 TensorProto (other types unchanged)."""
    if tensor.data_type != F32:
        return tensor
    converted = numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16), tensor.name)
    return converted


def retype(value_info):
    t = value_info.type.tensor_type
    if t.elem_type == F32:
        t.elem_type = F16


def keep_float32(graph):
    """Names that must stay float32 in full mode: Resize's roi and scales."""
    names = set()
    for node in graph.node:
        if node.op_type == "Resize":
            names.update(n for n in node.input[1:3] if n)
        if node.op_type == "Upsample" and len(node.input) > 1:
            names.add(node.input[1])
    return names


def full(model):
    graph = model.graph
    keep = keep_float32(graph)
    for i, init in enumerate(graph.initializer):
        if init.name not in keep:
            graph.initializer[i].CopyFrom(half(init))
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        if vi.name not in keep:
            retype(vi)
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and not (node.op_type == "Constant" and node.output[0] in keep):
                attr.t.CopyFrom(half(attr.t))
            if node.op_type == "Cast" and attr.name == "to" and attr.i == F32 and node.output[0] not in keep:
                attr.i = F16
    return model


def weights(model):
    graph = model.graph
    casts = []
    for i, init in enumerate(graph.initializer):
        if init.data_type != F32:
            continue
        name = init.name
        stored = half(init)
        stored.name = name + "__fp16"
        graph.initializer[i].CopyFrom(stored)
        casts.append(helper.make_node("Cast", [stored.name], [name], to=F32, name=name + "__to_fp32"))
    # float16 inputs and outputs around the float32 graph.
    for vi in graph.input:
        if vi.type.tensor_type.elem_type == F32:
            inner = vi.name + "__fp32"
            for node in graph.node:
                node.input[:] = [inner if n == vi.name else n for n in node.input]
            casts.append(helper.make_node("Cast", [vi.name], [inner], to=F32, name=vi.name + "__to_fp32"))
            retype(vi)
    tail = []
    for vo in graph.output:
        if vo.type.tensor_type.elem_type == F32:
            inner = vo.name + "__fp32"
            for node in graph.node:
                node.output[:] = [inner if n == vo.name else n for n in node.output]
                node.input[:] = [inner if n == vo.name else n for n in node.input]
            tail.append(helper.make_node("Cast", [inner], [vo.name], to=F16, name=vo.name + "__to_fp16"))
            retype(vo)
    nodes = casts + list(graph.node) + tail
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("--mode", choices=["full", "weights", "float32"], default="full")
    parser.add_argument("--channels", type=int)
    args = parser.parse_args()
    model = onnx.load(args.model)  # external data beside the model is read in
    del model.graph.value_info[:]  # shape inference results would carry float32 types; ONNX Runtime infers them again
    # Older exports list the weights among the graph inputs too; only the real inputs stay there.
    weight_names = {init.name for init in model.graph.initializer}
    real_inputs = [vi for vi in model.graph.input if vi.name not in weight_names]
    del model.graph.input[:]
    model.graph.input.extend(real_inputs)
    if args.channels:
        for vi in [v for v in model.graph.input if v.name == "sample"] + list(model.graph.output):
            dim = vi.type.tensor_type.shape.dim[1]
            dim.Clear()
            dim.dim_value = args.channels
    model = {"full": full, "weights": weights, "float32": lambda m: m}[args.mode](model)
    onnx.checker.check_model(model)
    onnx.save(model, args.out)
    print(f"{args.out}: {args.mode} copy of {args.model}")


if __name__ == "__main__":
    main()
