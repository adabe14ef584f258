#!/usr/bin/python3
r"""A tiny ONNX "UNet" with extra per-item conditioning inputs, for the SDK's conditioning tests.

Inputs: sample float32 [batch, 4, 2, 2], timestep float32 [1], encoder_hidden_states float32 [batch, seq, 2],
text_embeds float32 [batch, 3], time_ids int64 [batch, 2]. Output out_sample float32 [batch, 4, 2, 2]:

    out[b] = sample[b] + sum(ehs[b]) + 100 * sum(text_embeds[b]) + 10000 * sum(float(time_ids[b])) + 0 * timestep

so a test can tell which row of each input reached which item. Regenerate (Debian python3-onnx):

    /usr/bin/python3 tools/closed-form-models/make_conditioning_model.py

Output: tests/Sdk.Tests/TestData/conditioning/conditioning-inputs.onnx (deterministic bytes).
"""
import os
import onnx
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "Sdk.Tests", "TestData", "conditioning", "conditioning-inputs.onnx")


def main():
    inputs = [
        helper.make_tensor_value_info("sample", TensorProto.FLOAT, ["batch", 4, 2, 2]),
        helper.make_tensor_value_info("timestep", TensorProto.FLOAT, [1]),
        helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT, ["batch", "sequence", 2]),
        helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch", 3]),
        helper.make_tensor_value_info("time_ids", TensorProto.INT64, ["batch", 2]),
    ]
    outputs = [helper.make_tensor_value_info("out_sample", TensorProto.FLOAT, ["batch", 4, 2, 2])]
    c = lambda name, v: helper.make_tensor(name, TensorProto.FLOAT, [], [v])
    axes12 = helper.make_tensor("axes12", TensorProto.INT64, [2], [1, 2])
    axes1 = helper.make_tensor("axes1", TensorProto.INT64, [1], [1])
    shape = helper.make_tensor("shape", TensorProto.INT64, [4], [-1, 1, 1, 1])
    nodes = [
        helper.make_node("ReduceSum", ["encoder_hidden_states", "axes12"], ["ehs_sum"], keepdims=0),
        helper.make_node("ReduceSum", ["text_embeds", "axes1"], ["te_sum"], keepdims=0),
        helper.make_node("Cast", ["time_ids"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["ids_f", "axes1"], ["ids_sum"], keepdims=0),
        helper.make_node("Mul", ["te_sum", "hundred"], ["te_scaled"]),
        helper.make_node("Mul", ["ids_sum", "tenthousand"], ["ids_scaled"]),
        helper.make_node("Add", ["ehs_sum", "te_scaled"], ["s1"]),
        helper.make_node("Add", ["s1", "ids_scaled"], ["s2"]),
        helper.make_node("Reshape", ["s2", "shape"], ["per_item"]),
        helper.make_node("Mul", ["timestep", "zero"], ["t0"]),
        helper.make_node("Add", ["per_item", "t0"], ["offset"]),
        helper.make_node("Add", ["sample", "offset"], ["out_sample"]),
    ]
    graph = helper.make_graph(nodes, "conditioning-inputs", inputs, outputs,
                              initializer=[c("hundred", 100.0), c("tenthousand", 10000.0), c("zero", 0.0), axes12, axes1, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_conditioning_model.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, OUT)


if __name__ == "__main__":
    main()
