#!/usr/bin/python3
"""Writes the deliberately wrong models that the hostile-input tests load (tests/data/models/).

Each is a tiny, valid ONNX graph (an Identity or a 1x1 convolution) that does not fit the pipeline, with a
metadata file like models/deblur-fast.json that names it. The random-bytes model is a .onnx that is not ONNX.
Run with Debian's python3-onnx:  /usr/bin/python3 tests/tools/make_bad_models.py
"""
import json
import os
import random

import onnx
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "models")


def metadata(name, input_name="input", output_name="output"):
    return {
        "name": name,
        "file": f"{name}.onnx",
        "input": input_name,
        "output": output_name,
        "layout": "NCHW",
        "color_order": "BGR",
        "scale": 1 / 255,
        "mean": [0, 0, 0],
        "std": [1, 1, 1],
        "pad_multiple": 16,
        "output_clamp": [0, 1],
        "opset": 17,
        "params": 0,
        "gmac_720p": 0,
        "version": "test",
    }


def save(name, graph=None, raw=None):
    path = os.path.join(OUT, f"{name}.onnx")
    if raw is not None:
        with open(path, "wb") as f:
            f.write(raw)
    else:
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_bad_models.py")
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, path)
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(metadata(name), f, indent=2)
        f.write("\n")


def identity(input_name, channels):
    shape = ["N", channels, "H", "W"]
    x = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)
    return helper.make_graph([helper.make_node("Identity", [input_name], ["output"])], "bad", [x], [y])


def main():
    os.makedirs(OUT, exist_ok=True)
    # Random bytes with an .onnx name: not a protobuf ONNX Runtime can parse.
    save("random-bytes", raw=random.Random(6).randbytes(4096))
    # A valid graph whose input is called "image", while the metadata says "input".
    save("wrong-input-name", identity("image", 3))
    # A valid graph on one-channel images; the pipeline feeds three (BGR).
    save("one-channel", identity("input", 1))


if __name__ == "__main__":
    main()
