"""Post-training INT8 quantisation of the exported model, as a QDQ graph that ONNX Runtime fuses into
QLinearConv and friends on the CPU.

There is no onnxruntime in Debian's Python, so calibration runs the float graph in the project's numpy
evaluator (onnx_ref.py) on validation patches and records each activation's range.

  /usr/bin/python3 training/quantize_int8.py --metadata models/deblur-fast.json --datasets ../shared/datasets

writes models/deblur-fast.int8.onnx and names it as "int8_file" in the metadata (config: model.int8).
"""
import argparse
import json
import os
import sys

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
    for feed in patches:  # {graph input name: CHW float array}
        outs = onnx_ref.run(probe, {k: v[None].astype(np.float32) for k, v in feed.items()})
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


def float_nodes(model, quantise_first=False):
    """Output names of the nodes left in float: the first convolution (it reads the frames) unless asked, and the
    tail: the last convolution, its DepthToSpace and the final residual Add and Clip (a clamp)."""
    nodes = list(model.graph.node)  # in topological order
    keep = set()
    convs = [n for n in nodes if n.op_type == "Conv"]
    if not quantise_first:
        keep.add(convs[0].output[0])
    last = convs[-1]
    keep.add(last.output[0])
    after = False
    for n in nodes:
        if n is last:
            after = True
        elif after:
            keep.update(n.output)
    return keep


def calibration_patches(datasets, count, crop, frames):
    """Degraded val crops (and their references, for a two-frame model), as the pipeline feeds them: float CHW [0,1]."""
    sys.path.insert(0, HERE)
    import train
    options = {"data": dict(train.DATA_DEFAULTS), "train": dict(train.TRAIN_DEFAULTS, crop=crop), "degradation": {}}
    if frames == 2:  # the fixed-camera run's triplet mix (training/experiments/fixed.json)
        options["data"]["fixed_camera"] = {"clip_share": 0.6, "vanished": 0.25, "unrelated": 0.05}
    gen = train.make_generator(datasets, options, "val", 424242)
    feeds = []
    for b in range(-(-count // 8)):
        batch = gen.batch(b, 8)[:-1]
        for i in range(8):
            feeds.append([np.ascontiguousarray(a[i].transpose(2, 0, 1)).astype(np.float32) / 255.0 for a in batch[1:]])
    return feeds[:count]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--metadata", default=os.path.join(HERE, "..", "models", "deblur-fast.json"),
                    help="the model's metadata: names the float file, and gets int8_file")
    ap.add_argument("--datasets", default=None, help="calibrate on degraded val crops of these datasets (sources.py)")
    ap.add_argument("--patches", type=int, default=32)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--percentile", type=float, default=99.99)
    ap.add_argument("--quantise-first", action="store_true", help="quantise the first convolution too")
    args = ap.parse_args()

    with open(args.metadata) as f:
        meta = json.load(f)
    folder = os.path.dirname(os.path.abspath(args.metadata))
    src = os.path.join(folder, meta["file"])
    out = src.replace(".onnx", ".int8.onnx")
    model = onnx.load(src)
    frames = 2 if meta.get("reference_input") else 1
    import sources
    feeds = calibration_patches(args.datasets or sources.DEFAULT_DATASETS, args.patches, args.crop, frames)
    names = [i.name for i in model.graph.input]
    ranges = activation_ranges(model, [dict(zip(names, f)) for f in feeds], args.percentile)
    quantised = quantise(model, ranges, keep_float=float_nodes(model, args.quantise_first))
    onnx.checker.check_model(quantised)
    onnx.save(quantised, out)
    print(f"{len(ranges)} activations calibrated on {len(feeds)} val crops of {args.crop} px; wrote {out}")
    meta["int8_file"] = os.path.basename(out)
    with open(args.metadata, "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"named it as int8_file in {args.metadata}")


if __name__ == "__main__":
    main()
