#!/usr/bin/python3
"""What fixed-camera mode's scene-change and alignment checks see, on real fixed-camera clips: the figures behind the
defaults of fixed_camera.min_scene_correlation, max_luma_jump, min_alignment_quality and max_shift_fraction.

For a sharp reference frame of each clip it prints, against later frames blurred by camera-shake kernels
(training/blur.py), the checks' two measures, computed with the steps the reference keeper takes
(src/StreamDeblur.Video/FixedCamera): the correlation of 64-pixel-wide luma thumbnails (Gaussian sigma 1) and their
mean-luma difference; and the ECC correlation (Euclidean, started from phase correlation, 30 iterations, eps 1e-3,
gaussFiltSize 5) of the 256-pixel-wide luma, the reference blurred with sigma 1, with the shift it found. The cases:
the same view 1 to 60 frames later, a cut to the other clip, a pan of 2, 5 and 10 % of the width, and the lights
turned up by 40 levels.

  /usr/bin/python3 bench/fixed_camera_thresholds.py
"""
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "training"))
import blur  # noqa: E402

CLIPS = {"vtest": "/usr/share/doc/opencv-doc/examples/data/vtest.avi",
         "highway": "/work/shared/datasets/video/highway/highway-timestamped.avi"}


def frames(path, n):
    cap = cv2.VideoCapture(path)
    out = [cap.read()[1] for _ in range(n)]
    cap.release()
    return out


def small(img, width, sigma=0.0):
    s = cv2.resize(img, (width, max(8, round(img.shape[0] * width / img.shape[1]))), interpolation=cv2.INTER_AREA)
    s = cv2.cvtColor(s, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return cv2.GaussianBlur(s, (0, 0), sigma) if sigma > 0 else s


def correlation(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def checks(reference, frame):
    ta, tb = small(reference, 64, 1.0), small(frame, 64, 1.0)
    r, c = small(reference, 256, 1.0), small(frame, 256)
    window = cv2.createHanningWindow(r.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(r.copy(), c.copy(), window)  # copies: it windows its inputs in place
    warp = np.float32([[1, 0, -dx], [0, 1, -dy]])
    try:
        quality, warp = cv2.findTransformECC(c, r, warp, cv2.MOTION_EUCLIDEAN,
                                             (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 1e-3), None, 5)
    except cv2.error:
        quality = float("nan")
    shift = float(np.hypot(*warp[:, 2])) * reference.shape[1] / 256
    return correlation(ta, tb), abs(ta.mean() - tb.mean()), quality, shift / reference.shape[1]


def main():
    rng = np.random.default_rng(3)
    clips = {name: frames(path, 200) for name, path in CLIPS.items() if os.path.exists(path)}

    def shaken(img):
        k = blur.shake_kernel(rng, 15 * img.shape[1] / 768)
        return np.clip(blur.apply_kernel(img.astype(np.float32) / 255, k) * 255 + 0.5, 0, 255).astype(np.uint8)

    print(f"{'clip':<9}{'case':<22}{'thumb corr':>11}{'luma jump':>10}{'ECC corr':>9}{'shift/width':>12}")
    for name, f in clips.items():
        ref, h, w = f[100], f[100].shape[0], f[100].shape[1]
        cases = [(f"same view +{g} frames", shaken(f[100 + g])) for g in (1, 5, 15, 30, 60)]
        other = next(o for n, o in clips.items() if n != name) if len(clips) > 1 else None
        if other is not None:
            cases.append(("cut to the other clip", shaken(cv2.resize(other[50], (w, h)))))
        for p in (0.02, 0.05, 0.10):
            m = np.float32([[1, 0, p * w], [0, 1, 0]])
            cases.append((f"pan {p:.0%} of width", shaken(cv2.warpAffine(f[105], m, (w, h), borderMode=cv2.BORDER_REFLECT))))
        cases.append(("lights +40 levels", np.clip(f[105].astype(int) + 40, 0, 255).astype(np.uint8)))
        for case, frame in cases:
            corr, jump, quality, shift = checks(ref, frame)
            print(f"{name:<9}{case:<22}{corr:11.3f}{jump:10.1f}{quality:9.3f}{shift:12.3f}")


if __name__ == "__main__":
    main()
