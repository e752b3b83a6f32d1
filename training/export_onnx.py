"""Export a checkpoint to ONNX (opset 17, dynamic N/H/W), make the FP16-weight
variant, verify, write the metadata JSON and the C# parity fixtures.

Usage:
  /usr/bin/python3 training/export_onnx.py --ckpt training/checkpoints/final/best.pt --version 2026-11-24-final

Writes:
  models/deblur-fast.onnx          float32 graph, input "input", output "output"
  models/deblur-fast.fp16.onnx     float16 initializers + Cast->float32 (graph I/O stay float32)
  models/deblur-fast.json          metadata read by the C# side
  tests/data/parity_input.npy      float32 1x3x64x96, fixed seed
  tests/data/parity_output.npy     torch output for parity_input (C# compares ORT to this, tol 1e-4)
Checks: onnx.checker on both files; the float32 graph is evaluated with a small
pure-numpy ONNX interpreter (training/onnx_ref.py) and compared with PyTorch
(max abs diff must be <= 1e-4); the FP16 graph is evaluated the same way and its
deviation reported.
"""
import argparse
import datetime
import json
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import build, PAD_MULTIPLE  # noqa: E402
from count_macs import count  # noqa: E402
import onnx_ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def to_fp16_weights(m):
    """Store every float32 initializer as float16 and insert Cast(to=FLOAT) nodes
    so that all consumers still see float32 (graph I/O unchanged)."""
    g = m.graph
    new_inits, casts = [], []
    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT and len(init.dims) > 0:
            arr = numpy_helper.to_array(init)
            h = numpy_helper.from_array(arr.astype(np.float16), init.name + "__fp16")
            new_inits.append(h)
            casts.append(helper.make_node("Cast", [h.name], [init.name], to=TensorProto.FLOAT,
                                          name=init.name + "__cast"))
        else:
            new_inits.append(init)
    del g.initializer[:]
    g.initializer.extend(new_inits)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(casts + nodes)
    # drop value_info/inputs that referred to the old initializer names as graph inputs
    keep = [i for i in g.input if i.name not in {c.output[0] for c in casts}]
    del g.input[:]
    g.input.extend(keep)
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--name", default="deblur-fast", help="model name: deblur-fast, deblur-quality or deblur-fixed")
    ap.add_argument("--out", default=None, help="default: models/<name>.onnx")
    ap.add_argument("--version", default=datetime.date.today().isoformat())
    ap.add_argument("--no-fixtures", action="store_true")
    ap.add_argument("--no-fp16", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(2)
    out = a.out or os.path.join(ROOT, "models", a.name + ".onnx")

    ck = torch.load(a.ckpt, map_location="cpu")
    model = build(ck["config"]).eval()
    model.load_state_dict(ck["ema"])
    os.makedirs(os.path.dirname(out), exist_ok=True)
    two = getattr(model, "frames", 1) == 2
    inputs = ["input", "reference"] if two else ["input"]
    axes = {n: {0: "N", 2: "H", 3: "W"} for n in inputs + ["output"]}

    pad_multiple = getattr(model, "pad_multiple", PAD_MULTIPLE)
    dummy = tuple(torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(i)) for i in range(len(inputs)))
    torch.onnx.export(model, dummy, out, opset_version=17, input_names=inputs, output_names=["output"],
                      dynamic_axes=axes, do_constant_folding=True)
    m = onnx.load(out)
    onnx.checker.check_model(m, full_check=True)
    ops = sorted({n.op_type for n in m.graph.node})
    print("exported", out, f"{os.path.getsize(out)/1e6:.2f} MB", "ops:", ops)

    # parity fixture: fixed seeded input(s), torch output; checked again with the numpy evaluator at a second shape
    g = torch.Generator().manual_seed(20261124)
    xs = [torch.rand(1, 3, 64, 96, generator=g) for _ in inputs]
    with torch.no_grad():
        y = model(*xs).numpy().astype(np.float32)
    feeds = {n: x.numpy().astype(np.float32) for n, x in zip(inputs, xs)}
    (ref,) = onnx_ref.run(m, feeds)
    d = float(np.abs(ref.astype(np.float32) - y).max())
    print(f"numpy-ONNX vs torch max abs diff (1x3x64x96): {d:.2e}")
    assert d <= 1e-4, "ONNX graph does not match PyTorch"
    x2 = [torch.rand(2, 3, 2 * pad_multiple, 5 * pad_multiple, generator=g) for _ in inputs]
    with torch.no_grad():
        y2 = model(*x2).numpy()
    (ref2,) = onnx_ref.run(m, {n: x.numpy() for n, x in zip(inputs, x2)})
    d2 = float(np.abs(ref2 - y2).max())
    print(f"numpy-ONNX vs torch max abs diff {tuple(x2[0].shape)}: {d2:.2e}")
    assert d2 <= 1e-4

    d16 = None
    fp16_path = out.replace(".onnx", ".fp16.onnx")
    if not a.no_fp16:
        m16 = to_fp16_weights(onnx.load(out))
        onnx.checker.check_model(m16, full_check=True)
        onnx.save(m16, fp16_path)
        (ref16,) = onnx_ref.run(m16, feeds)
        d16 = float(np.abs(ref16.astype(np.float32) - y).max())
        print("fp16 variant", fp16_path, f"{os.path.getsize(fp16_path)/1e6:.2f} MB",
              f"max abs diff vs torch fp32: {d16:.2e}  mean {np.abs(ref16 - y).mean():.2e}")

    if not a.no_fixtures:
        td = os.path.join(ROOT, "tests", "data")
        os.makedirs(td, exist_ok=True)
        prefix = "parity" if a.name == "deblur-fast" else f"parity_{a.name}"
        for n in inputs:
            np.save(os.path.join(td, f"{prefix}_{n}.npy"), feeds[n])
        np.save(os.path.join(td, f"{prefix}_output.npy"), y)
        print(f"wrote tests/data/{prefix}_*.npy", y.shape)

    macs, params = count(model)
    meta = {"name": a.name, "file": os.path.basename(out)}
    if not a.no_fp16:
        meta["fp16_file"] = os.path.basename(fp16_path)
    meta.update({"input": "input", "output": "output", "layout": "NCHW", "color_order": "BGR",
                 "scale": 1.0 / 255.0, "mean": [0, 0, 0], "std": [1, 1, 1], "pad_multiple": pad_multiple,
                 "output_clamp": [0, 1], "opset": 17, "params": int(params), "gmac_720p": round(macs / 1e9, 3),
                 "version": a.version})
    if two:
        meta["reference_input"] = "reference"
    jp = out.replace(".onnx", ".json")
    if os.path.exists(jp):  # keep what later steps added (the INT8 file)
        with open(jp) as f:
            old = json.load(f)
        if "int8_file" in old and old.get("version") == a.version:
            meta["int8_file"] = old["int8_file"]
    with open(jp, "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(json.dumps(meta))
    print(json.dumps({"parity_max_abs_diff": d, "parity_max_abs_diff_b2": d2, "fp16_max_abs_diff": d16,
                      "ckpt_step": ck.get("step"), "ckpt_val_psnr": ck.get("val_psnr")}))


if __name__ == "__main__":
    main()
