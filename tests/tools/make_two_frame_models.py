#!/usr/bin/python3
"""Writes tiny two-frame models for the fixed-camera tests (tests/data/models/two-frame-*.onnx + .json).

They have the contract of models/deblur-fixed.onnx (inputs "input" and "reference", float32 NCHW BGR in
[0, 1], dynamic N, H and W; output "output", clamped to [0, 1]) but no learnt weights, so that a test knows
exactly what they compute:
  two-frame-blend   output = (input + reference) / 2: a network that paints the past into the present, which
                    the ghost checks must catch.
  two-frame-input   output = input + 0 * reference: reads the reference and ignores it (plumbing).
Run with Debian's python3-onnx:  /usr/bin/python3 tests/tools/make_two_frame_models.py
"""
import json
import os

import onnx
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "models")


def metadata(name):
    return {
        "name": name, "file": f"{name}.onnx", "input": "input", "output": "output", "layout": "NCHW",
        "color_order": "BGR", "scale": 1 / 255, "mean": [0, 0, 0], "std": [1, 1, 1], "pad_multiple": 32,
        "output_clamp": [0, 1], "opset": 17, "params": 0, "gmac_720p": 0, "version": "test",
        "reference_input": "reference",
    }


def graph(name, nodes, initializers):
    shape = ["N", 3, "H", "W"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("input", "reference")]
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)
    clip = [helper.make_tensor("lo", TensorProto.FLOAT, [], [0.0]), helper.make_tensor("hi", TensorProto.FLOAT, [], [1.0])]
    nodes = nodes + [helper.make_node("Clip", ["mixed", "lo", "hi"], ["output"])]
    return helper.make_graph(nodes, name, inputs, [output], initializer=initializers + clip)


def save(name, g):
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_two_frame_models")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, os.path.join(OUT, f"{name}.onnx"))
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(metadata(name), f, indent=2)
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    half = helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])
    save("two-frame-blend", graph("two_frame_blend", [
        helper.make_node("Add", ["input", "reference"], ["sum"]),
        helper.make_node("Mul", ["sum", "half"], ["mixed"]),
    ], [half]))
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    save("two-frame-input", graph("two_frame_input", [
        helper.make_node("Mul", ["reference", "zero"], ["ignored"]),
        helper.make_node("Add", ["input", "ignored"], ["mixed"]),
    ], [zero]))


if __name__ == "__main__":
    main()
