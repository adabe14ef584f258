#!/usr/bin/python3
"""A stand-in UNet whose encoder_hidden_states input fixes the sequence length at 77 tokens, as some exports do.

Run with Debian's python3-onnx, from the repository root:

    /usr/bin/python3 tools/sd-fixtures/make_fixed_sequence_unet.py

It writes tests/Sdk.Tests/TestData/sd-synthetic/unet_fixed77.onnx: inputs `sample` float [batch, 4, height, width],
`timestep` float [batch] and `encoder_hidden_states` float [batch, 77, 32]; output `out_sample` = sample plus zero
times the means of the other two inputs (so that every input is used). The tests put it beside the tiny fixture's
other parts to check that a prompt needing more than 77 tokens is refused before any work, with a typed error.
The output is deterministic and passes onnx.checker.
"""
import os
import onnx
from onnx import helper, TensorProto

OUT = os.path.join("tests/Sdk.Tests/TestData/sd-synthetic", "unet_fixed77.onnx")

sample = helper.make_tensor_value_info("sample", TensorProto.FLOAT, ["batch", 4, "height", "width"])
timestep = helper.make_tensor_value_info("timestep", TensorProto.FLOAT, ["batch"])
hidden = helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT, ["batch", 77, 32])
out = helper.make_tensor_value_info("out_sample", TensorProto.FLOAT, ["batch", 4, "height", "width"])
init = [
    helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
    helper.make_tensor("per_item", TensorProto.INT64, [4], [-1, 1, 1, 1]),
]
nodes = [
    helper.make_node("ReduceMean", ["encoder_hidden_states"], ["hidden_mean"], axes=[1, 2], keepdims=0),
    helper.make_node("Add", ["hidden_mean", "timestep"], ["both"]),
    helper.make_node("Mul", ["both", "zero"], ["nothing"]),
    helper.make_node("Reshape", ["nothing", "per_item"], ["nothing4"]),
    helper.make_node("Add", ["sample", "nothing4"], ["out_sample"]),
]
graph = helper.make_graph(nodes, "unet_fixed77", [sample, timestep, hidden], [out], init)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], producer_name="make_fixed_sequence_unet.py")
model.ir_version = 7
onnx.checker.check_model(model)
onnx.save_model(model, OUT)
print(OUT, os.path.getsize(OUT), "bytes")
