#!/usr/bin/python3
"""Where the fixed-camera output's error is, per deblurred frame of a fixed_camera_eval.py work folder.

For every burst frame at a burst's start, its second frame and its middle, it prints the share of the absolute luma
error (mode on, against the sharp frame, 16 px from the borders) that comes from pixels off by 5 levels or more, and
the mean signed error of the single-frame output (mode off): how much brighter (+) or darker it is than the sharp frame.

Usage, after bench/fixed_camera_eval.py has run with --work <folder>:
  /usr/bin/python3 bench/fixed_camera_errors.py out/fce-ship-n0/vtest-shift0
"""
import json
import sys

import cv2
import numpy as np

LARGE_LEVELS = 5
BORDER = 16


def lumas(path):
    cap = cv2.VideoCapture(path)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        yield cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
    cap.release()


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    work = sys.argv[1]
    with open(f"{work}/report-on.jsonl") as f:
        routes = [json.loads(line)["route"] for line in f]
    inner = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    shares, biases = [], []
    for i, (truth, on, off) in enumerate(zip(lumas(f"{work}/sharp.mkv"), lumas(f"{work}/out-on.mkv"), lumas(f"{work}/out-off.mkv"))):
        if routes[i] != "deblurred" or i % 50 not in (25, 26, 30):
            continue
        error = np.abs(on - truth)[inner]
        shares.append(error[error >= LARGE_LEVELS].sum() / error.sum())
        biases.append(float((off - truth)[inner].mean()))
        print(f"frame {i}: {shares[-1]:.0%} of the error from pixels off by {LARGE_LEVELS}+ levels; single-frame output {biases[-1]:+.2f} levels")
    if shares:
        print(f"{len(shares)} frames: share {min(shares):.0%}-{max(shares):.0%}, single-frame bias {min(biases):+.2f} to {max(biases):+.2f} levels")


if __name__ == "__main__":
    main()
