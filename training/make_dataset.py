"""Collect sharp source images from Debian packages, split by SOURCE IMAGE into
train / val / test, and pre-generate (sharp, blurred) training patch pairs.

Sources (all local, nothing downloaded):
  * mate-backgrounds            /usr/share/backgrounds/mate/**
  * plasma-workspace-wallpapers /usr/share/wallpapers/*/contents/images/* (largest size per wallpaper)
  * python3-skimage             skimage.data photos
  * opencv-doc                  /usr/share/doc/opencv-doc/examples/data/*.jpg|png (+ .gz)
  * opencv-doc video clips      Megamind.avi, tree.avi (frames) -- vtest.avi is EXCLUDED (eval only)

Outputs (training/cache/, git-ignored):
  split.json                 which source goes to which split
  train_sharp.npy / train_blur.npy   uint8 N x P x P x 3 (BGR) patch pairs
  val_sharp.npy / val_blur.npy       pairs from held-out val images

Usage:
  /usr/bin/python3 training/make_dataset.py --train-patches 24000 --val-patches 256 --patch 128
"""
import argparse
import glob
import gzip
import json
import os
import re
import shutil
import sys
import tempfile
import time
from multiprocessing import Pool

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blur as B  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, "cache")
OCV = "/usr/share/doc/opencv-doc/examples/data"

# opencv-doc files that are not natural sharp images (logos, synthetic, already blurred)
OCV_EXCLUDE = {"LinuxLogo", "WindowsLogo", "opencv-logo", "opencv-logo-white", "digits", "gradient",
               "ml", "mask", "pca_test1", "text_motion", "text_defocus", "licenseplate_motion",
               "notes", "imageTextN", "imageTextR", "detect_blob", "aloeGT", "ellipses", "tmpl", "templ",
               "alphabet_36", "alphabet_94", "pic1", "pic2", "pic3", "pic4", "pic5", "pic6", "cards",
               "data01", "squirrel_cls"}
SKIMAGE_USE = ["astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "hubble_deep_field",
               "brick", "grass", "gravel", "camera", "moon", "coins", "page", "retina", "immunohistochemistry"]

# fixed held-out TEST sources (never trained on); chosen to cover nature/urban/people
TEST_GROUPS = ["mate:Garden", "mate:Storm", "mate:Wood", "mate:RainDrops", "plasma:Autumn", "plasma:BytheWater",
               "plasma:ColorfulCups", "plasma:Path", "plasma:Shell", "skimage:astronaut", "skimage:coffee",
               "skimage:chelsea", "ocv:building", "ocv:home", "ocv:baboon", "ocv:fruits"]
VAL_GROUPS = ["mate:Aqua", "mate:LadyBird", "plasma:EveningGlow", "plasma:Canopee", "skimage:rocket", "ocv:butterfly",
              "ocv:messi", "ocv:stuff"]


def _read(path):
    if path.endswith(".gz"):
        d = tempfile.mkdtemp()
        out = os.path.join(d, os.path.basename(path)[:-3])
        with gzip.open(path, "rb") as f, open(out, "wb") as g:
            shutil.copyfileobj(f, g)
        im = cv2.imread(out, cv2.IMREAD_COLOR)
        shutil.rmtree(d)
        return im
    return cv2.imread(path, cv2.IMREAD_COLOR)


def find_vtest():
    for p in [os.path.join(OCV, "vtest.avi"), os.path.join(OCV, "vtest.avi.gz")]:
        if os.path.exists(p):
            if p.endswith(".gz"):
                out = os.path.join(tempfile.gettempdir(), "vtest.avi")
                with gzip.open(p, "rb") as f, open(out, "wb") as g:
                    shutil.copyfileobj(f, g)
                return out
            return p
    hits = glob.glob("/usr/share/doc/opencv-doc/**/vtest.avi*", recursive=True)
    if not hits:
        raise FileNotFoundError("vtest.avi not found under /usr/share/doc/opencv-doc")
    return hits[0]


def collect_sources():
    """Return list of dicts: {group, path, kind} (group = dedup key for splitting)."""
    src = []
    # mate: dedupe resolutions (Elephants, Elephants_3840x2160, ...) -> keep largest
    best = {}
    for p in glob.glob("/usr/share/backgrounds/**/*.*", recursive=True):
        if not re.search(r"\.(jpg|jpeg|png)$", p, re.I):
            continue
        base = re.sub(r"_\d+x\d+$", "", os.path.splitext(os.path.basename(p))[0])
        g = "mate:" + base
        sz = os.path.getsize(p)
        if g not in best or sz > best[g][1]:
            best[g] = (p, sz)
    for g, (p, _) in best.items():
        src.append({"group": g, "path": p, "kind": "image"})
    # plasma: one (largest) file per wallpaper directory
    for d in sorted(glob.glob("/usr/share/wallpapers/*/")):
        files = glob.glob(os.path.join(d, "contents", "images", "*.*"))
        files = [f for f in files if re.search(r"\.(jpg|jpeg|png)$", f, re.I)]
        if not files:
            continue
        p = max(files, key=os.path.getsize)
        src.append({"group": "plasma:" + os.path.basename(d.rstrip("/")), "path": p, "kind": "image"})
    # skimage
    try:
        import skimage.data as sd
        ddir = os.path.dirname(sd.__file__)
        for name in SKIMAGE_USE:
            hits = glob.glob(os.path.join(ddir, name + ".*"))
            if hits:
                src.append({"group": "skimage:" + name, "path": hits[0], "kind": "image"})
    except Exception as e:  # pragma: no cover
        print("skimage data unavailable:", e)
    # opencv-doc images
    for p in sorted(glob.glob(os.path.join(OCV, "*"))):
        m = re.match(r"(.+?)\.(jpg|png)(\.gz)?$", os.path.basename(p), re.I)
        if not m:
            continue
        stem = m.group(1)
        if stem in OCV_EXCLUDE:
            continue
        # group near duplicates: left01/right01 stereo calib, aloeL/aloeR, graf1/graf3, ...
        g = re.sub(r"\d+$", "", stem)
        g = re.sub(r"^(left|right)$", "stereo_calib", g)
        g = re.sub(r"(L|R)$", "", g) if stem.startswith("aloe") else g
        src.append({"group": "ocv:" + g, "path": p, "kind": "image"})
    # opencv-doc video clips (NOT vtest.avi)
    for name in ["Megamind.avi", "tree.avi"]:
        p = os.path.join(OCV, name)
        for cand in [p, p + ".gz"]:
            if os.path.exists(cand):
                src.append({"group": "clip:" + name, "path": cand, "kind": "video"})
    return src


def load_video_frames(path, every=10, max_frames=40):
    if path.endswith(".gz"):
        d = tempfile.mkdtemp()
        out = os.path.join(d, os.path.basename(path)[:-3])
        with gzip.open(path, "rb") as f, open(out, "wb") as g:
            shutil.copyfileobj(f, g)
        path = out
    cap = cv2.VideoCapture(path)
    frames, i = [], 0
    while len(frames) < max_frames:
        ok, fr = cap.read()
        if not ok:
            break
        if i % every == 0:
            frames.append(fr)
        i += 1
    cap.release()
    return frames


VIDEO_EVERY, VIDEO_MAX = 10, 40


def load_images(entries):
    """Load all images for a list of source entries -> list of (group, image)."""
    out = []
    for e in entries:
        if e["kind"] == "video":
            for fr in load_video_frames(e["path"], VIDEO_EVERY, VIDEO_MAX):
                out.append((e["group"], fr))
        else:
            im = _read(e["path"])
            if im is None or min(im.shape[:2]) < 160:
                continue
            s = min(im.shape[:2])
            if s > 1080:  # cap resolution (training resize never exceeds 1080 short side)
                f = 1080.0 / s
                im = cv2.resize(im, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            out.append((e["group"], im))
    return out


def surveillance_resize(im, rng, lo=480, hi=1080):
    """Randomly downscale so that the short side is in [lo, hi] (never upscale)."""
    s = min(im.shape[:2])
    target = rng.uniform(lo, hi)
    if s > target:
        f = target / s
        im = cv2.resize(im, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    return im


def _texture_score(p):
    g = cv2.cvtColor(p, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(g, cv2.CV_32F)).mean())


_IMAGES = None  # set before forking workers (avoids pickling the images)


def make_pairs(args):
    n, patch, seed, allow_identity = args
    images = _IMAGES
    rng = np.random.default_rng(seed)
    margin = B.KSIZE // 2 + 1
    big = patch + 2 * margin
    S = np.zeros((n, patch, patch, 3), np.uint8)
    Y = np.zeros((n, patch, patch, 3), np.uint8)
    i = 0
    resized = {}
    while i < n:
        j = int(rng.integers(len(images)))
        if j not in resized or rng.random() < 0.02:
            resized[j] = surveillance_resize(images[j], rng)
        im = resized[j]
        h, w = im.shape[:2]
        if h < big or w < big:
            continue
        y0 = int(rng.integers(0, h - big + 1))
        x0 = int(rng.integers(0, w - big + 1))
        crop = im[y0:y0 + big, x0:x0 + big]
        # reject very flat crops most of the time (sky, walls)
        if _texture_score(crop) < 2.0 and rng.random() < 0.8:
            continue
        yb, k, info = B.degrade(crop, rng, allow_identity=allow_identity)
        S[i] = crop[margin:margin + patch, margin:margin + patch]
        Y[i] = yb[margin:margin + patch, margin:margin + patch]
        i += 1
    return S, Y


def generate(images, n, patch, seed, workers, allow_identity):
    chunks = max(1, workers * 4)
    per = [n // chunks + (1 if c < n % chunks else 0) for c in range(chunks)]
    global _IMAGES
    _IMAGES = images
    jobs = [(per[c], patch, seed * 1000 + c, allow_identity) for c in range(chunks) if per[c] > 0]
    if workers > 1:
        with Pool(workers) as pool:
            res = pool.map(make_pairs, jobs)
    else:
        res = [make_pairs(j) for j in jobs]
    return np.concatenate([r[0] for r in res]), np.concatenate([r[1] for r in res])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-patches", type=int, default=24000)
    ap.add_argument("--val-patches", type=int, default=256)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--val-seed", type=int, default=1235)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default=os.path.join(HERE, "cache"))
    ap.add_argument("--video-every", type=int, default=10, help="take every k-th frame of the training clips")
    ap.add_argument("--video-max", type=int, default=40, help="max frames per training clip")
    args = ap.parse_args()
    global VIDEO_EVERY, VIDEO_MAX, CACHE
    VIDEO_EVERY, VIDEO_MAX, CACHE = args.video_every, args.video_max, args.cache
    os.makedirs(CACHE, exist_ok=True)
    t0 = time.time()
    src = collect_sources()
    groups = sorted({s["group"] for s in src})
    test = [s for s in src if s["group"] in TEST_GROUPS]
    val = [s for s in src if s["group"] in VAL_GROUPS]
    train = [s for s in src if s["group"] not in TEST_GROUPS and s["group"] not in VAL_GROUPS]
    missing = [g for g in TEST_GROUPS + VAL_GROUPS if g not in groups]
    if missing:
        print("note: held-out groups not found (skipped):", missing)
    split = {"train": train, "val": val, "test": test,
             "excluded": ["vtest.avi (reserved for evaluation)"]}
    with open(os.path.join(CACHE, "split.json"), "w") as f:
        json.dump(split, f, indent=1)
    tr_imgs = [im for _, im in load_images(train)]
    va_imgs = [im for _, im in load_images(val)]
    print(f"sources: {len(src)} files in {len(groups)} groups; train {len(train)} files -> {len(tr_imgs)} images/frames, "
          f"val {len(val)}, test {len(test)}")
    S, Y = generate(va_imgs, args.val_patches, args.patch, args.val_seed, 1, False)
    np.save(os.path.join(CACHE, "val_sharp.npy"), S)
    np.save(os.path.join(CACHE, "val_blur.npy"), Y)
    S, Y = generate(tr_imgs, args.train_patches, args.patch, args.seed, args.workers, True)
    np.save(os.path.join(CACHE, "train_sharp.npy"), S)
    np.save(os.path.join(CACHE, "train_blur.npy"), Y)
    stats = {"train_files": len(train), "train_images": len(tr_imgs), "val_files": len(val), "test_files": len(test),
             "train_patches": int(len(S)), "seed": args.seed, "video_every": VIDEO_EVERY, "video_max": VIDEO_MAX, "val_patches": args.val_patches, "patch": args.patch,
             "seconds": round(time.time() - t0, 1)}
    with open(os.path.join(CACHE, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    print(stats)


if __name__ == "__main__":
    main()
