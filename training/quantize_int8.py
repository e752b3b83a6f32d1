"""Post-training INT8 quantisation of the exported model, as a QDQ graph that ONNX Runtime fuses into
QLinearConv and friends on the CPU.

There is no onnxruntime in Debian's Python, so calibration runs the float graph in the project's numpy
evaluator (onnx_ref.py) on validation patches and records each activation's range.

  /usr/bin/python3 training/quantize_int8.py --patches 64 --metadata models/deblur-fast.json

writes models/deblur-fast.int8.onnx and names it as "int8_file" in the metadata (config: model.int8).
"""
import json
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import onnx_ref

HERE = os.path.dirname(os.path.abspath(__file__))
QUANTISED_OPS = {"Conv", "Add", "LeakyRelu", "DepthToSpace"}


def activation_ranges(model, patches, percentile):
    """Runs the float graph on the patches; returns {tensor: (low, high)} for every activation a quantised op reads."""
    wanted = []
    initializers = {i.name for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type in QUANTISED_OPS:
            for name in node.input:
                if name and name not in initializers and name not in wanted:
                    wanted.append(name)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    for name in wanted:
        probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    values = {name: [] for name in wanted}
    for patch in patches:
        outs = onnx_ref.run(probe, {"input": patch[None].astype(np.float32)})
        for name, value in zip(wanted, outs):
            values[name].append(np.asarray(value, np.float32).ravel())
    ranges = {}
    for name, parts in values.items():
        v = np.concatenate(parts)
        ranges[name] = (min(0.0, float(np.percentile(v, 100 - percentile))), max(0.0, float(np.percentile(v, percentile))))
    return ranges


def quantise(model, ranges, keep_float=()):
    """Rewrites the graph as QDQ; nodes whose first output is named in keep_float stay float."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    new_nodes, new_inits = [], []
    dq_of = {}

    def activation_scale(name):
        low, high = ranges[name]
        return max(high - low, 1e-8) / 255.0

    def activation(name):
        if name in dq_of:
            return dq_of[name]
        scale = activation_scale(name)
        zero = int(np.clip(round(-ranges[name][0] / scale), 0, 255))
        s, z = name + "_scale", name + "_zero"
        new_inits.append(numpy_helper.from_array(np.array(scale, np.float32), s))
        new_inits.append(numpy_helper.from_array(np.array(zero, np.uint8), z))
        new_nodes.append(helper.make_node("QuantizeLinear", [name, s, z], [name + "_q"]))
        new_nodes.append(helper.make_node("DequantizeLinear", [name + "_q", s, z], [name + "_dq"]))
        dq_of[name] = name + "_dq"
        return dq_of[name]

    for node in graph.node:
        if node.op_type not in QUANTISED_OPS or node.output[0] in keep_float:
            new_nodes.append(node)
            continue
        inputs = list(node.input)
        if node.op_type == "Conv":
            x = inputs[0]
            x_scale = activation_scale(x)  # the bias scale must be the input's scale times the weight's
            w = numpy_helper.to_array(inits[inputs[1]]).astype(np.float32)
            w_scale = np.maximum(np.abs(w).reshape(w.shape[0], -1).max(axis=1), 1e-8) / 127.0
            wq = np.clip(np.round(w / w_scale[:, None, None, None]), -127, 127).astype(np.int8)
            wn = inputs[1]
            new_inits += [numpy_helper.from_array(wq, wn + "_q"),
                          numpy_helper.from_array(w_scale.astype(np.float32), wn + "_scale"),
                          numpy_helper.from_array(np.zeros(w.shape[0], np.int8), wn + "_zero")]
            new_nodes.append(helper.make_node("DequantizeLinear", [wn + "_q", wn + "_scale", wn + "_zero"], [wn + "_dq"], axis=0))
            inputs[0] = activation(x)
            inputs[1] = wn + "_dq"
            if len(inputs) > 2 and inputs[2]:
                bn = inputs[2]
                b = numpy_helper.to_array(inits[bn]).astype(np.float64)
                b_scale = (x_scale * w_scale).astype(np.float32)
                bq = np.round(b / b_scale).astype(np.int32)
                new_inits += [numpy_helper.from_array(bq, bn + "_q"),
                              numpy_helper.from_array(b_scale, bn + "_scale"),
                              numpy_helper.from_array(np.zeros(w.shape[0], np.int32), bn + "_zero")]
                new_nodes.append(helper.make_node("DequantizeLinear", [bn + "_q", bn + "_scale", bn + "_zero"], [bn + "_dq"], axis=0))
                inputs[2] = bn + "_dq"
        else:
            inputs = [activation(i) if i in ranges else i for i in inputs]
        node_copy = helper.make_node(node.op_type, inputs, list(node.output), name=node.name)
        node_copy.attribute.extend(node.attribute)
        new_nodes.append(node_copy)

    used = {i for n in new_nodes for i in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.node[:]
    graph.node.extend(new_nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "..", "models", "deblur-fast.onnx"))
    ap.add_argument("--cache", default=os.path.join(HERE, "cache_v2"))
    ap.add_argument("--patches", type=int, default=16)
    ap.add_argument("--percentile", type=float, default=99.99)
    ap.add_argument("--keep-float", default="/intro/Conv_output_0,/ending/Conv_output_0,/shuffle/DepthToSpace_output_0,/Add_4_output_0",
                    help="comma-separated output names of nodes left in float (the first and last layers by default)")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "models", "deblur-fast.int8.onnx"))
    ap.add_argument("--metadata", default=None, help="metadata JSON to name the INT8 file in (int8_file)")
    args = ap.parse_args()

    model = onnx.load(args.model)
    blur = np.load(os.path.join(args.cache, "val_blur.npy"), mmap_mode="r")
    rng = np.random.default_rng(0)
    picks = rng.choice(len(blur), size=args.patches, replace=False)
    # BGR uint8 HWC -> float CHW in [0, 1], as the pipeline feeds the network.
    patches = [np.ascontiguousarray(blur[i].transpose(2, 0, 1)).astype(np.float32) / 255.0 for i in picks]
    ranges = activation_ranges(model, patches, args.percentile)
    quantised = quantise(model, ranges, keep_float=set(filter(None, args.keep_float.split(","))))
    onnx.checker.check_model(quantised)
    onnx.save(quantised, args.out)
    print(f"{len(ranges)} activations calibrated on {len(patches)} patches; wrote {args.out}")
    if args.metadata:
        with open(args.metadata) as f:
            meta = json.load(f)
        meta["int8_file"] = os.path.relpath(args.out, os.path.dirname(os.path.abspath(args.metadata)))
        with open(args.metadata, "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
        print(f"named it as int8_file in {args.metadata}")


if __name__ == "__main__":
    main()
