"""Tiny pure-numpy ONNX evaluator for the ops used by deblur-fast.

There is no onnxruntime (and onnx 1.12 has no onnx.reference) on this machine, so
export_onnx.py uses this to check that the exported graph computes the same thing
as PyTorch. Supports just the ops our exporter emits; raises on anything else.
"""
import numpy as np
import onnx
from onnx import numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv(x, w, b, at):
    group = at.get("group", 1)
    strides = at.get("strides", [1, 1])
    pads = at.get("pads", [0, 0, 0, 0])
    dil = at.get("dilations", [1, 1])
    assert dil == [1, 1]
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    n, c, h, wd = x.shape
    co, ci, kh, kw = w.shape
    sh, sw = strides
    oh = (h - kh) // sh + 1
    ow = (wd - kw) // sw + 1
    out = np.zeros((n, co, oh, ow), np.float64)
    cog = co // group
    for g in range(group):
        xg = x[:, g * ci:(g + 1) * ci]
        wg = w[g * cog:(g + 1) * cog]
        for i in range(kh):
            for j in range(kw):
                patch = xg[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]  # n, ci, oh, ow
                out[:, g * cog:(g + 1) * cog] += np.einsum("nchw,oc->nohw", patch, wg[:, :, i, j], optimize=True)
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def run(model, feeds):
    g = model.graph
    env = {}
    for init in g.initializer:
        env[init.name] = numpy_helper.to_array(init)
    env.update(feeds)
    for node in g.node:
        op, at = node.op_type, _attrs(node)
        ins = [env[i] if i else None for i in node.input]
        if op == "Constant":
            r = numpy_helper.to_array(at["value"])
        elif op == "Conv":
            r = _conv(ins[0].astype(np.float64), ins[1].astype(np.float64),
                      None if len(ins) < 3 else ins[2].astype(np.float64), at)
        elif op == "Add":
            r = ins[0] + ins[1]
        elif op == "Relu":
            r = np.maximum(ins[0], 0)
        elif op == "LeakyRelu":
            r = np.where(ins[0] >= 0, ins[0], ins[0] * at.get("alpha", 0.01))
        elif op == "Sub":
            r = ins[0] - ins[1]
        elif op == "Mul":
            r = ins[0] * ins[1]
        elif op == "Div":
            r = ins[0] / ins[1]
        elif op == "Sqrt":
            r = np.sqrt(ins[0])
        elif op == "Pow":
            r = np.power(ins[0], ins[1])
        elif op == "ReduceMean":
            r = np.mean(ins[0], axis=tuple(at["axes"]), keepdims=bool(at.get("keepdims", 1)))
        elif op == "GlobalAveragePool":
            r = ins[0].mean(axis=(2, 3), keepdims=True)
        elif op == "Split":
            axis = at.get("axis", 0)
            split = ins[1] if len(ins) > 1 and ins[1] is not None else at.get("split")
            if split is None:
                r = np.split(ins[0], len(node.output), axis=axis)
            else:
                r = np.split(ins[0], np.cumsum(split)[:-1], axis=axis)
        elif op == "Clip":
            lo = ins[1] if len(ins) > 1 and ins[1] is not None else -np.inf
            hi = ins[2] if len(ins) > 2 and ins[2] is not None else np.inf
            r = np.clip(ins[0], lo, hi)
        elif op == "Reshape":
            shape = [int(s) for s in ins[1]]
            shape = [ins[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
            r = ins[0].reshape(shape)
        elif op == "Transpose":
            r = np.transpose(ins[0], at["perm"])
        elif op == "DepthToSpace":
            b = at["blocksize"]
            n, c, h, w = ins[0].shape
            if at.get("mode", b"DCR") in (b"CRD", "CRD"):
                t = ins[0].reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
            else:
                t = ins[0].reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
            r = t.reshape(n, c // (b * b), h * b, w * b)
        elif op == "SpaceToDepth":
            b = at["blocksize"]
            n, c, h, w = ins[0].shape
            t = ins[0].reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
            r = t.reshape(n, c * b * b, h // b, w // b)
        elif op == "Shape":
            r = np.array(ins[0].shape, np.int64)
        elif op == "Gather":
            r = np.take(ins[0], ins[1], axis=at.get("axis", 0))
        elif op == "Unsqueeze":
            axes = ins[1] if len(ins) > 1 else at["axes"]
            r = ins[0]
            for ax in sorted(int(a) for a in np.atleast_1d(axes)):
                r = np.expand_dims(r, ax)
        elif op == "Squeeze":
            axes = ins[1] if len(ins) > 1 and ins[1] is not None else at.get("axes")
            r = np.squeeze(ins[0], axis=None if axes is None else tuple(int(a) for a in np.atleast_1d(axes)))
        elif op == "Concat":
            r = np.concatenate([np.atleast_1d(i) for i in ins], axis=at["axis"])
        elif op == "Cast":
            to = at["to"]
            r = ins[0].astype(onnx.helper.tensor_dtype_to_np_dtype(to)) if hasattr(onnx.helper, "tensor_dtype_to_np_dtype") \
                else ins[0].astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[to])
        elif op == "Slice":
            data, starts, ends = ins[0], ins[1], ins[2]
            axes = ins[3] if len(ins) > 3 and ins[3] is not None else np.arange(len(starts))
            steps = ins[4] if len(ins) > 4 and ins[4] is not None else np.ones(len(starts), np.int64)
            sl = [slice(None)] * data.ndim
            for s, e, a, st in zip(starts, ends, axes, steps):
                sl[int(a)] = slice(int(s), int(e), int(st))
            r = data[tuple(sl)]
        elif op == "Identity":
            r = ins[0]
        else:
            raise NotImplementedError(op)
        if isinstance(r, list):
            for o, v in zip(node.output, r):
                env[o] = v
        else:
            env[node.output[0]] = np.asarray(r)
    return [env[o.name] for o in g.output]
