"""Held-out evaluation sets for model v3, built from images that no model here was trained on.

  /usr/bin/python3 training/heldout.py --datasets ../shared/datasets --out out/heldout

writes, for `streamdeblur eval --dir out/heldout/<set>` (NNN_sharp.png / NNN_blurry.png and a manifest.json whose
pairs carry their degradation, so that eval can break the results down by blur type and extent):

  bsds-clean   the 200 photographs of bsds500/test, whole (481x321 or 321x481), one documented kernel each:
               80 straight-line motion and 80 camera-shake kernels (Boracchi & Foi random walks) with extents of
               4-24 px (up to 5 % of the width), and 40 defocus discs of radius 1.5-5 px; blurred in linear light;
               no noise, 8-bit PNG;
  bsds-noisy   the same images and kernels, with sensor noise after the blur (Poisson-Gaussian in linear light:
               read sigma 0.002, shot gain 0.002) and H.264 (libx264 CRF 28, coded as a P-frame) on top;
  vtest-shake  24 frames of vtest.avi (768x576, the real surveillance clip no model trains on), spread over the clip,
               with camera-shake kernels of 6-38 px (up to 5 % of the width), light noise and H.264 CRF 23.

The kernels and every pair's parameters are committed in training/heldout/ (the images are not: they are the
datasets' pictures, which stay out of the repository); the manifest records the SHA-256 of every file written, so a
rebuild can be checked against it (`--check`).
"""
import argparse
import hashlib
import json
import os
import sys

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blur as B  # noqa: E402
import degrade as D  # noqa: E402
import make_dataset  # noqa: E402
import sources  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RECORD = os.path.join(HERE, "heldout")
KSIZE = D.MAX_KERNEL


def bsds_kernels(rng, n=200):
    """The documented kernels of the bsds sets: (kernel, info) in a fixed order of types."""
    kinds = ["linear"] * 80 + ["shake"] * 80 + ["defocus"] * 40
    order = rng.permutation(n)
    out = [None] * n
    for slot, kind in zip(order, kinds):
        if kind == "defocus":
            r = float(rng.uniform(1.5, 5.0))
            k = B.disk_kernel(r, KSIZE)
            out[slot] = (k, {"type": "defocus", "radius": round(r, 2), "extent": round(2 * r, 2)})
            continue
        length = float(rng.uniform(4.0, 24.0))
        if kind == "linear":
            angle = float(rng.uniform(0, 180))
            k = B.linear_kernel(length, angle, KSIZE)
            info = {"type": "linear", "length": round(length, 2), "angle": round(angle, 1)}
        else:
            k = B.shake_kernel(rng, length, KSIZE)
            info = {"type": "shake", "length": round(length, 2)}
        info["extent"] = D.kernel_extent(k)
        out[slot] = (k, info)
    return out


def blur_linear(img_u8, k):
    """Blur an 8-bit sRGB image in linear light (reflected borders), back to 8-bit sRGB; also returns linear."""
    lin = D.SRGB_TO_LINEAR[torch.from_numpy(img_u8).long()].numpy()
    out = cv2.filter2D(lin, -1, cv2.flip(k, -1), borderType=cv2.BORDER_REFLECT)
    return np.clip(out, 0, 1)


def to_display(lin):
    return D.LINEAR_TO_SRGB_U8[torch.from_numpy(np.round(np.clip(lin, 0, 1) * 65535).astype(np.int64))].numpy()


def add_noise(lin, rng, read_sigma, shot_gain):
    std = np.sqrt(shot_gain * np.clip(lin, 0, 1) + read_sigma ** 2)
    return lin + std * rng.standard_normal(lin.shape).astype(np.float32)


def h264(img, crf, rng):
    h, w = img.shape[:2]
    ph, pw = h % 2, w % 2  # 4:2:0 needs even sides: pad by one replicated pixel, as the product does
    padded = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
    return D.h264_roundtrip([padded], crf, rng, preset="medium")[0][:h, :w]


def write_pair(folder, index, sharp, blurry):
    names = (f"{index:03d}_sharp.png", f"{index:03d}_blurry.png")
    hashes = []
    for name, img in zip(names, (sharp, blurry)):
        path = os.path.join(folder, name)
        cv2.imwrite(path, img)
        with open(path, "rb") as f:
            hashes.append(hashlib.sha256(f.read()).hexdigest())
    return {"id": f"{index:03d}", "sharp": names[0], "blurry": names[1], "sha256": hashes}


def build(datasets, out):
    rng = np.random.default_rng(2026)
    test = sorted((s for s in sources.collect(datasets, use_debian=False) if s.set == "bsds500" and s.split == "test"),
                  key=lambda s: s.name)
    kernels = bsds_kernels(rng)
    sets = {}
    for variant in ("bsds-clean", "bsds-noisy"):
        folder = os.path.join(out, variant)
        os.makedirs(folder, exist_ok=True)
        vrng = np.random.default_rng(7 if variant == "bsds-clean" else 8)
        pairs = []
        for i, (s, (k, info)) in enumerate(zip(test, kernels)):
            sharp = cv2.imread(s.path, cv2.IMREAD_COLOR)
            lin = blur_linear(sharp, k)
            degradation = dict(info)
            if variant == "bsds-noisy":
                lin = add_noise(lin, vrng, 0.002, 0.002)
                blurry = h264(to_display(lin), 28, vrng)
                degradation.update(read_sigma=0.002, shot_gain=0.002, codec="h264 crf 28")
            else:
                blurry = to_display(lin)
            entry = write_pair(folder, i, sharp, blurry)
            entry.update(source=s.name, kernel=i, degradation=degradation)
            pairs.append(entry)
        sets[variant] = pairs
    # vtest frames with camera shake
    folder = os.path.join(out, "vtest-shake")
    os.makedirs(folder, exist_ok=True)
    vrng = np.random.default_rng(9)
    cap = cv2.VideoCapture(make_dataset.find_vtest())
    frames = []
    ok, frame = cap.read()
    while ok:
        frames.append(frame)
        ok, frame = cap.read()
    cap.release()
    picks = np.linspace(20, len(frames) - 20, 24).astype(int)
    pairs, vkernels = [], []
    for i, f in enumerate(picks):
        sharp = frames[f]
        length = float(vrng.uniform(6.0, 38.0))
        k = B.shake_kernel(vrng, length, KSIZE)
        lin = add_noise(blur_linear(sharp, k), vrng, 0.001, 0.001)
        blurry = h264(to_display(lin), 23, vrng)
        entry = write_pair(folder, i, sharp, blurry)
        entry.update(source=f"opencv-doc:vtest.avi frame {f}", kernel=i,
                     degradation={"type": "shake", "length": round(length, 2), "extent": D.kernel_extent(k),
                                  "read_sigma": 0.001, "shot_gain": 0.001, "codec": "h264 crf 23"})
        pairs.append(entry)
        vkernels.append(k)
    sets["vtest-shake"] = pairs
    os.makedirs(RECORD, exist_ok=True)
    np.savez_compressed(os.path.join(RECORD, "bsds-kernels.npz"), *[k.astype(np.float16) for k, _ in kernels])
    np.savez_compressed(os.path.join(RECORD, "vtest-shake-kernels.npz"), *[k.astype(np.float16) for k in vkernels])
    for name, pairs in sets.items():
        kernels_file = "vtest-shake-kernels.npz" if name == "vtest-shake" else "bsds-kernels.npz"
        manifest = {"set": name, "description": __doc__.split(name, 1)[1].split("\n  ", 1)[0].strip(" \n"),
                    "generator": "training/heldout.py", "kernels": f"training/heldout/{kernels_file} (arr_<kernel>, "
                    f"{KSIZE}x{KSIZE}, true convolution, float16)", "count": len(pairs), "pairs": pairs}
        for path in (os.path.join(out, name, "manifest.json"), os.path.join(RECORD, name + ".json")):
            with open(path, "w") as f:
                json.dump(manifest, f, indent=1)
                f.write("\n")
        print(f"{name}: {len(pairs)} pairs -> {os.path.join(out, name)}")


def check(out):
    """Every file of every set matches the committed record."""
    bad = 0
    for name in ("bsds-clean", "bsds-noisy", "vtest-shake"):
        with open(os.path.join(RECORD, name + ".json")) as f:
            record = json.load(f)
        for p in record["pairs"]:
            for file, digest in zip((p["sharp"], p["blurry"]), p["sha256"]):
                with open(os.path.join(out, name, file), "rb") as f:
                    if hashlib.sha256(f.read()).hexdigest() != digest:
                        bad += 1
                        print("differs:", name, file)
    print("all files match the record" if not bad else f"{bad} files differ")
    return bad == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default=sources.DEFAULT_DATASETS)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "out", "heldout"))
    ap.add_argument("--check", action="store_true", help="only compare an existing build with the record")
    a = ap.parse_args()
    if a.check:
        sys.exit(0 if check(a.out) else 1)
    build(a.datasets, a.out)


if __name__ == "__main__":
    main()
