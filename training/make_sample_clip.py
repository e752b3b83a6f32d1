"""Demo clip + blur-level fixtures.

  /usr/bin/python3 training/make_sample_clip.py

1) samples/vtest-blur.mp4: first 150 frames of opencv-doc vtest.avi (768x576, original
   fps), with synthetic camera-shake/motion blur (training/blur.py kernels, extent
   9-21 px) on ~30% of the frames in a few bursts, H.264 (libx264, yuv420p, crf 23)
   via Debian's ffmpeg. samples/vtest-blur.truth.json lists the blurred frame indices.
2) tests/data/blur_levels/: one sharp 192x192 crop (held-out image) and the same crop
   with linear motion blur of 0,3,5,9,15,21 px (no noise, no JPEG) for a
   monotonicity test (sharpness score must decrease with length).
"""
import json
import os
import subprocess
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blur as B  # noqa: E402
import make_dataset as MD  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pick_bursts(n, frac, nbursts, rng):
    total = int(round(n * frac))
    lens = np.full(nbursts, total // nbursts)
    lens[: total % nbursts] += 1
    while True:
        starts = sorted(rng.choice(np.arange(5, n - max(lens) - 1), nbursts, replace=False))
        ok = all(starts[i] + lens[i] + 5 <= starts[i + 1] for i in range(nbursts - 1))
        if ok:
            return [(int(s), int(l)) for s, l in zip(starts, lens)]


def make_clip(frames_wanted=150, seed=2024):
    rng = np.random.default_rng(seed)
    vt = MD.find_vtest()
    cap = cv2.VideoCapture(vt)
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    frames = []
    while len(frames) < frames_wanted:
        ok, fr = cap.read()
        if not ok:
            break
        frames.append(fr)
    cap.release()
    n = len(frames)
    h, w = frames[0].shape[:2]
    bursts = pick_bursts(n, 0.30, 3, rng)
    blurred = []
    for s, l in bursts:
        # a shake event: extent ramps up then down (9..21 px), direction drifts
        peak = rng.uniform(15, 21)
        ang0 = rng.uniform(0, 180)
        use_shake = rng.random() < 0.5
        for j in range(l):
            t = (j + 0.5) / l
            length = 9 + (peak - 9) * np.sin(np.pi * t)
            if use_shake and j % 2 == 0:
                k = B.shake_kernel(rng, length)
            else:
                k = B.linear_kernel(length, ang0 + rng.normal(0, 12))
            x = frames[s + j].astype(np.float32) / 255.0
            y = B.apply_kernel(x, k)
            y = y + rng.normal(0, 0.004, y.shape).astype(np.float32)
            frames[s + j] = np.clip(np.round(y * 255), 0, 255).astype(np.uint8)
            blurred.append(s + j)
    os.makedirs(os.path.join(ROOT, "samples"), exist_ok=True)
    out = os.path.join(ROOT, "samples", "vtest-blur.mp4")
    cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}",
           "-r", f"{fps:g}", "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "23",
           "-preset", "medium", "-movflags", "+faststart", out]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for fr in frames:
        p.stdin.write(fr.tobytes())
    p.stdin.close()
    assert p.wait() == 0
    truth = {"source": "vtest.avi", "frames": n, "fps": float(fps), "width": w, "height": h,
             "blurred_frames": sorted(blurred),
             "bursts": [{"start": s, "length": l} for s, l in bursts],
             "blur": "training/blur.py linear/shake kernels, extent 9-21 px (ramped per burst), sigma 0.004 noise",
             "codec": "libx264 yuv420p crf 23"}
    with open(os.path.join(ROOT, "samples", "vtest-blur.truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
    print(f"wrote {out} ({os.path.getsize(out)/1e6:.2f} MB), {n} frames @ {fps} fps, {len(blurred)} blurred {bursts}")


def make_levels(seed=5):
    d = os.path.join(ROOT, "tests", "data", "blur_levels")
    os.makedirs(d, exist_ok=True)
    im = cv2.imread("/usr/share/doc/opencv-doc/examples/data/building.jpg")  # held-out (TEST) image
    if im is None:
        im = MD.load_video_frames(MD.find_vtest(), 1, 1)[0]
    size, m = 192, B.KSIZE
    H, W = im.shape[:2]
    y0, x0 = max(0, (H - size) // 2 - m), max(0, (W - size) // 2 - m)
    big = im[y0:y0 + size + 2 * m, x0:x0 + size + 2 * m]
    sharp = big[m:m + size, m:m + size]
    cv2.imwrite(os.path.join(d, "sharp.png"), sharp)
    files = []
    for L in [0, 3, 5, 9, 15, 21]:
        k = B.linear_kernel(float(L), 30.0)
        y = B.apply_kernel(big.astype(np.float32) / 255.0, k)
        y = np.clip(np.round(y * 255), 0, 255).astype(np.uint8)[m:m + size, m:m + size]
        fn = f"blur_{L:02d}px.png"
        cv2.imwrite(os.path.join(d, fn), y)
        files.append({"file": fn, "length_px": L, "angle_deg": 30.0})
    json.dump({"sharp": "sharp.png", "source": "opencv-doc building.jpg (held-out test image), centre crop 192x192",
               "kernel": "training/blur.py linear_kernel(length, 30 deg), no noise, no JPEG; length 0 = identity",
               "levels": files}, open(os.path.join(d, "manifest.json"), "w"), indent=1)
    print("wrote", d)


if __name__ == "__main__":
    make_clip()
    make_levels()
