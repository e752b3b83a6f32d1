"""Sharp training material for model v3: where it comes from, how it is split, and the manifest.

Sources, read in place and never copied into the repository:
  * `--datasets` (../shared/datasets, see its README): BSDS500 train and val, Urban100, Sun-Hays80,
    the fixed-camera footage in video/ (pets2001-cam1, highway, wsdot);
  * Debian packages: mate-backgrounds, plasma-workspace-wallpapers, python3-skimage and opencv-doc
    (the version 2 sources, found by make_dataset.collect_sources).

The split is by source image (for footage: by camera clip):
  * test, never trained on: bsds500/test, video/highway/highway-timestamped.avi (the held-out fixed-camera
    clip), the 16 Debian images behind tests/data/eval; vtest.avi is excluded from everything but evaluation;
  * val, for checkpoint selection only: a fixed pick of bsds500/val, Urban100 and Sun-Hays80 images (by
    the SHA-256 of their names, so the pick does not depend on file order), the Debian val groups, and the
    last 300 frames of pets2001-cam1;
  * train: everything else.

`write_manifest` records exactly what a run used: every file with its size, SHA-256, set, split, terms and,
for footage, the frame indices.

  /usr/bin/python3 training/sources.py --datasets ../shared/datasets --out /tmp/manifest.json   # a dry listing
"""
import argparse
import dataclasses
import glob
import hashlib
import json
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_dataset as debian  # noqa: E402  (the version 2 Debian sources and their held-out groups)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATASETS = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "datasets"))

TERMS = {
    "bsds500": "BSDS500 (Arbelaez et al., TPAMI 2011): non-commercial research and education",
    "urban100": "Urban100 (Huang et al., CVPR 2015): academic benchmark, no explicit licence",
    "sunhays80": "Sun-Hays80 (Sun and Hays, ICCP 2012): academic benchmark, no explicit licence",
    "pets2001": "PETS 2001 dataset 3 camera 1, downscaled (via ThaiTin/data_Tin): research benchmark, no explicit licence",
    "highway": "CDnet 2014 / bgslibrary sample clips: research benchmark, no explicit licence",
    "wsdot": "WSDOT motorway camera stills (via bgslibrary): no explicit licence",
    "debian": "Debian packages mate-backgrounds, plasma-workspace-wallpapers (GPL/LGPL/CC), python3-skimage "
              "(public domain / CC0 photos), opencv-doc (BSD-3 sample data)",
}

VAL_PICK = {"bsds500/val": 16, "urban100": 6, "sunhays80": 6}
PETS_VAL_FRAMES = 300
HELD_OUT_CLIP = "video/highway/highway-timestamped.avi"


@dataclasses.dataclass
class Source:
    path: str            # absolute path
    name: str            # path relative to its root, for the manifest
    set: str             # bsds500, urban100, sunhays80, pets2001, highway, wsdot, debian
    group: str           # the unit of the split: one photograph, or one camera clip
    split: str           # train, val or test
    kind: str = "image"  # image, video (a container) or frames (a folder of consecutive frames)
    frames: tuple = ()   # for video and frames sources: the frame indices this split uses


def _name_rank(name):
    return hashlib.sha256(name.encode()).hexdigest()


def collect(datasets=DEFAULT_DATASETS, use_debian=True):
    """Every source with its split. Raises if the datasets folder is missing."""
    if not os.path.isdir(os.path.join(datasets, "photos")):
        raise FileNotFoundError(f"no datasets at {datasets} (expected photos/ and video/; see its README)")
    out = []
    photos = os.path.join(datasets, "photos")
    for folder, set_name in (("bsds500/train", "bsds500"), ("bsds500/val", "bsds500"), ("bsds500/test", "bsds500"),
                             ("urban100", "urban100"), ("sunhays80", "sunhays80")):
        files = sorted(f for f in glob.glob(os.path.join(photos, folder, "*")) if f.lower().endswith((".jpg", ".png")))
        val = set(sorted((os.path.basename(f) for f in files), key=_name_rank)[:VAL_PICK.get(folder, 0)])
        for f in files:
            name = os.path.relpath(f, datasets)
            split = "test" if folder == "bsds500/test" else ("val" if os.path.basename(f) in val else "train")
            out.append(Source(f, name, set_name, name, split))
    video = os.path.join(datasets, "video")
    pets = sorted(glob.glob(os.path.join(video, "pets2001-cam1", "*.jpg")))
    if pets:
        cut = len(pets) - PETS_VAL_FRAMES
        root = os.path.join(video, "pets2001-cam1")
        out.append(Source(root, "video/pets2001-cam1", "pets2001", "pets2001-cam1:train", "train", "frames", tuple(range(cut))))
        out.append(Source(root, "video/pets2001-cam1", "pets2001", "pets2001-cam1:val", "val", "frames", tuple(range(cut, len(pets)))))
    for f in sorted(glob.glob(os.path.join(video, "highway", "*.avi"))):
        name = os.path.relpath(f, datasets)
        out.append(Source(f, name, "highway", name, "test" if name == HELD_OUT_CLIP else "train", "video"))
    wsdot = sorted(glob.glob(os.path.join(video, "wsdot", "*.png")))
    if wsdot:
        out.append(Source(os.path.join(video, "wsdot"), "video/wsdot", "wsdot", "wsdot", "train", "frames",
                          tuple(range(len(wsdot)))))
    if use_debian:
        for e in debian.collect_sources():
            split = "test" if e["group"] in debian.TEST_GROUPS else "val" if e["group"] in debian.VAL_GROUPS else "train"
            out.append(Source(e["path"], e["path"], "debian", e["group"], split, e["kind"]))
    for s in out:  # the project's rules, checked rather than trusted
        assert not (s.split == "train" and ("bsds500/test" in s.name or "vtest" in s.name or s.name == HELD_OUT_CLIP)), s
    return out


def frame_files(source):
    return sorted(f for f in glob.glob(os.path.join(source.path, "*")) if f.lower().endswith((".jpg", ".png")))


def read_frames(source, every=1, limit=None):
    """(index, BGR image) for the frames of a video or frames source that this split uses, every k-th."""
    wanted = set(source.frames[::every]) if source.frames else None
    if source.kind == "frames":
        files = frame_files(source)
        for i in sorted(wanted if wanted is not None else range(len(files))):
            yield i, cv2.imread(files[i], cv2.IMREAD_COLOR)
        return
    cap = cv2.VideoCapture(source.path)
    i, taken = 0, 0
    try:
        while limit is None or taken < limit:
            ok, frame = cap.read()
            if not ok:
                break
            if (wanted is None and i % every == 0) or (wanted is not None and i in wanted):
                taken += 1
                yield i, frame
            i += 1
    finally:
        cap.release()


def load_images(sources, video_every=6, max_short=1080):
    """(source, frame index or None, image) for still images and every k-th frame of footage; large stills are
    downscaled to max_short on the short side (the crops are never taken at a larger scale)."""
    out = []
    for s in sources:
        if s.kind == "image":
            im = debian._read(s.path) if s.set == "debian" else cv2.imread(s.path, cv2.IMREAD_COLOR)
            if im is None or min(im.shape[:2]) < 160:
                continue
            short = min(im.shape[:2])
            if short > max_short:
                f = max_short / short
                im = cv2.resize(im, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            out.append((s, None, im))
        else:
            path = s.path
            if s.set == "debian" and path.endswith(".gz"):
                path = _gunzip(path)
                s = dataclasses.replace(s, path=path)
            every = 1 if s.set == "wsdot" else video_every  # wsdot holds stills taken far apart: use them all
            for i, frame in read_frames(s, every, 40 if s.set == "debian" else None):
                out.append((s, i, frame))
    return out


def _gunzip(path):
    import gzip
    import shutil
    import tempfile
    target = os.path.join(tempfile.gettempdir(), os.path.basename(path)[:-3])
    if not os.path.exists(target):
        with gzip.open(path, "rb") as f, open(target, "wb") as g:
            shutil.copyfileobj(f, g)
    return target


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(path, used, datasets, purpose):
    """used: (source, frame index or None) pairs. One entry per file, with the frame indices for footage."""
    entries = {}
    for s, index in used:
        files = frame_files(s) if s.kind == "frames" else [s.path]
        chosen = [files[index]] if s.kind == "frames" else files
        for f in chosen:
            e = entries.setdefault(f, {"file": os.path.relpath(f, datasets) if f.startswith(datasets) else f,
                                       "set": s.set, "group": s.group, "split": s.split,
                                       "bytes": os.path.getsize(f), "sha256": sha256(f)})
            if s.kind == "video" and index is not None:
                e.setdefault("frames", []).append(index)
    sets = sorted({e["set"] for e in entries.values()})
    manifest = {"purpose": purpose, "datasets_root": os.path.abspath(datasets),
                "terms": {k: TERMS[k] for k in sets},
                "counts": {split: sum(1 for e in entries.values() if e["split"] == split) for split in ("train", "val", "test")},
                "files": sorted(entries.values(), key=lambda e: e["file"])}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    return manifest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default=DEFAULT_DATASETS)
    ap.add_argument("--no-debian", action="store_true")
    ap.add_argument("--out", default=None, help="write a manifest of the train and val sources here")
    a = ap.parse_args()
    sources = collect(a.datasets, not a.no_debian)
    for split in ("train", "val", "test"):
        chosen = [s for s in sources if s.split == split]
        by_set = {}
        for s in chosen:
            by_set[s.set] = by_set.get(s.set, 0) + (len(s.frames) if s.frames else 1)
        print(split, len(chosen), "sources:", by_set)
    if a.out:
        used = [(s, i) for s, i, _ in load_images([s for s in sources if s.split != "test"])]
        m = write_manifest(a.out, used, a.datasets, "listing")
        print("manifest:", m["counts"], "->", a.out)


if __name__ == "__main__":
    main()
