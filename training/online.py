"""Fresh (sharp, blurred) pairs for every training step, instead of a fixed cache of pairs.

Every step draws new crops at a new scale and blurs them with new kernels, so no pair is seen twice,
and the JPEG block grid lands at any offset (every cached pair has it at the same one). Optionally a
share of the crops are synthetic "dead leaves" scenes, and photographic crops get new colours: content
that the network cannot learn by heart (per_image_gain.py shows the fixed-cache network did learn its
127 training images).

The degradation is the one in blur.py, in the same order (blur, Poisson-Gaussian noise,
8-bit quantisation, JPEG), made cheap enough to run between training steps on the same
2 cores:
  * kernels come from a bank drawn once at start-up with blur.random_kernel, and every use
    flips and transposes one at random (8 variants per kernel);
  * the convolution of the whole batch is one FFT product in torch. Crops carry a margin of
    KSIZE // 2 px on each side, so the circular wrap-around of the FFT only touches the margin,
    which is cut off;
  * noise runs in torch; only JPEG goes through OpenCV, one crop at a time.
"""
import json
import os
import sys
import time

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blur as B  # noqa: E402
import make_dataset as D  # noqa: E402


def load_split_images(cache_dir, split_name):
    """(group, image) for every image of one split (train, val or test) recorded in cache_dir/split.json,
    with the clip-frame sampling the cache was built with."""
    with open(os.path.join(cache_dir, "split.json")) as f:
        split = json.load(f)
    with open(os.path.join(cache_dir, "stats.json")) as f:
        stats = json.load(f)
    D.VIDEO_EVERY, D.VIDEO_MAX = stats["video_every"], stats["video_max"]
    return D.load_images(split[split_name])


def load_train_images(cache_dir):
    """The training images of the cache's split (val and test stay out)."""
    return [im for _, im in load_split_images(cache_dir, "train")]


def kernel_bank(count, seed):
    rng = np.random.default_rng(seed)
    return np.stack([B.random_kernel(rng, allow_identity=True)[0] for _ in range(count)])


class OnlineDegrader:
    """Draws batches of (sharp, blurred) uint8 NHWC BGR crops, each pair new."""

    def __init__(self, images, crop, kernels, seed, min_short=480, max_short=1080,
                 jpeg_prob=B.JPEG_PROB, q_range=B.JPEG_QUALITY, max_sigma=B.MAX_SIGMA, max_poisson=B.MAX_POISSON,
                 synthetic_fraction=0.0, colour_jitter=False):
        self.images = images
        self.crop = crop
        self.margin = B.KSIZE // 2
        # 8 px more than the blur needs, so the JPEG block grid can sit at any offset in the crop
        self.big = crop + 2 * self.margin + 8
        self.kernels = kernels
        self.rng = np.random.default_rng(seed)
        self.min_short, self.max_short = min_short, max_short
        self.jpeg_prob, self.q_range = jpeg_prob, q_range
        self.max_sigma, self.max_poisson = max_sigma, max_poisson
        self.synthetic_fraction = synthetic_fraction
        self.colour_jitter = colour_jitter
        # colours for the synthetic scenes come from the photographs' own pixels
        self.palette = np.concatenate([im[::16, ::16].reshape(-1, 3) for im in images]) if synthetic_fraction > 0 else None

    def _sharp_crop(self):
        """A crop of `big` px at a random surveillance scale (short side 480-1080, never upscaled)."""
        rng = self.rng
        while True:
            im = self.images[int(rng.integers(len(self.images)))]
            h, w = im.shape[:2]
            scale = min(1.0, rng.uniform(self.min_short, self.max_short) / min(h, w))
            src = int(np.ceil(self.big / scale))
            if src > h or src > w:
                continue
            y0 = int(rng.integers(0, h - src + 1))
            x0 = int(rng.integers(0, w - src + 1))
            region = im[y0:y0 + src, x0:x0 + src]
            crop = region if src == self.big else cv2.resize(region, (self.big, self.big), interpolation=cv2.INTER_AREA)
            # like the cache: mostly skip flat crops (sky, walls)
            if D._texture_score(crop) < 2.0 and rng.random() < 0.8:
                continue
            return crop

    def _dead_leaves(self):
        """A synthetic sharp scene: occluding discs and boxes with radii drawn from a 1/r^3 law (the
        'dead leaves' model, scale-invariant like natural images), anti-aliased edges, colours taken from
        the photographs. Content the network cannot learn by heart: every scene is new."""
        rng = self.rng
        img = np.empty((self.big, self.big, 3), np.uint8)
        img[:] = self.palette[rng.integers(len(self.palette))]
        r_min, r_max = 3.0, self.big / 2.0
        count = int(rng.integers(100, 250))
        u = rng.random(count)
        radii = (r_min ** -2 - u * (r_min ** -2 - r_max ** -2)) ** -0.5  # inverse CDF of p(r) ~ r^-3
        radii = np.sort(radii)[::-1]  # big ones first, so that small ones stay visible on top
        colours = self.palette[rng.integers(len(self.palette), size=count)]
        centres = rng.uniform(-self.big * 0.1, self.big * 1.1, (count, 2))
        for (cx, cy), r, colour in zip(centres, radii, colours):
            colour = tuple(int(c) for c in colour)
            if rng.random() < 0.3:  # boxes and bars: the straight edges of buildings and cars
                angle = float(rng.uniform(0, 180))
                box = ((float(cx), float(cy)), (float(2 * r), float(2 * r * rng.uniform(0.1, 1.0))), angle)
                cv2.fillConvexPoly(img, np.round(cv2.boxPoints(box) * 16).astype(np.int32), colour, cv2.LINE_AA, shift=4)
            else:
                cv2.circle(img, (int(cx * 16), int(cy * 16)), int(r * 16), colour, -1, cv2.LINE_AA, shift=4)
        return img

    def _jitter(self, crop):
        """New colours for old content: channel order, gamma and contrast."""
        rng = self.rng
        if rng.random() < 0.5:
            crop = crop[:, :, rng.permutation(3)]
        levels = (np.arange(256) / 255.0) ** rng.uniform(0.7, 1.4)  # gamma, then contrast about the mean
        mean = float(levels[crop].mean())
        levels = (levels - mean) * rng.uniform(0.7, 1.1) + mean
        return cv2.LUT(np.ascontiguousarray(crop), np.clip(np.round(levels * 255.0), 0, 255).astype(np.uint8))

    def _sharp(self):
        if self.synthetic_fraction > 0 and self.rng.random() < self.synthetic_fraction:
            return self._dead_leaves()
        crop = self._sharp_crop()
        return self._jitter(crop) if self.colour_jitter and self.rng.random() < 0.5 else crop

    def _kernels(self, n):
        rng = self.rng
        ks = self.kernels[rng.integers(0, len(self.kernels), n)]
        if rng.random() < 0.5:
            ks = ks[:, :, ::-1]
        if rng.random() < 0.5:
            ks = ks[:, ::-1]
        flip = rng.random(n) < 0.5
        ks = np.where(flip[:, None, None], ks.transpose(0, 2, 1), ks)
        return np.ascontiguousarray(ks)

    def batch(self, n):
        rng = self.rng
        sharp_big = np.stack([self._sharp() for _ in range(n)])           # N, big, big, 3 uint8
        x = torch.from_numpy(sharp_big).permute(0, 3, 1, 2).float().div_(255.0)  # N, 3, big, big
        k = torch.from_numpy(self._kernels(n))                                   # N, K, K
        kp = torch.zeros(n, self.big, self.big)
        ks = k.shape[-1]
        kp[:, :ks, :ks] = k
        # centre the kernel on (0, 0): true convolution, the convention of blur.apply_kernel
        kp = torch.roll(kp, shifts=(-(ks // 2), -(ks // 2)), dims=(1, 2))
        y = torch.fft.irfft2(torch.fft.rfft2(x) * torch.fft.rfft2(kp)[:, None], s=(self.big, self.big))
        m, c = self.margin, self.crop
        y = y[:, :, m:m + c + 8, m:m + c + 8]  # the part the FFT's wrap-around did not reach
        # Poisson-Gaussian noise, per sample (blur.add_noise)
        sigma = torch.from_numpy(rng.uniform(0.0, self.max_sigma, n)).float()
        gain = torch.from_numpy(np.where(rng.random(n) < B.POISSON_PROB, rng.uniform(0.0, self.max_poisson, n), 0.0)).float()
        std = torch.sqrt(gain[:, None, None, None] * y.clamp(0, 1) + sigma[:, None, None, None] ** 2)
        y = y + std * torch.randn(y.shape, generator=torch.Generator().manual_seed(int(rng.integers(2**62))))
        blurred = (y * 255.0).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy().copy()
        for i in range(n):
            if rng.random() < self.jpeg_prob:
                blurred[i] = B.jpeg(blurred[i], int(rng.integers(self.q_range[0], self.q_range[1] + 1)))
        # one crop position for the batch: the JPEG grid lands at a random offset (0-7) in x and y.
        # Real frames have it at 0, the cache's and eval's crops at 1: the network should not care.
        oy, ox = (int(v) for v in rng.integers(0, 8, 2))
        blurred = np.ascontiguousarray(blurred[:, oy:oy + c, ox:ox + c])
        sharp = np.ascontiguousarray(sharp_big[:, m + oy:m + oy + c, m + ox:m + ox + c])
        return sharp, blurred


def _self_check():
    """The FFT blur equals blur.apply_kernel (OpenCV) inside the crop."""
    rng = np.random.default_rng(3)
    big = 128 + 2 * (B.KSIZE // 2) + 8
    img = (rng.random((big, big, 3)) * 255).astype(np.uint8)
    k = B.random_kernel(rng)[0]
    deg = OnlineDegrader([img], 128, k[None], 0, min_short=10**6, max_short=10**6, jpeg_prob=0.0,
                         max_sigma=0.0, max_poisson=0.0)
    deg._sharp = lambda: img
    deg._kernels = lambda n: k[None].repeat(n, 0)
    sharp, fft_blur = deg.batch(1)
    m = B.KSIZE // 2
    ref = B.apply_kernel(img.astype(np.float32) / 255.0, k)
    ref = np.clip(np.round(ref * 255.0), 0, 255).astype(np.uint8)
    diff = None
    for dy in range(8):  # find the offset the batch used from the sharp crop, then compare the blur there
        for dx in range(8):
            if np.array_equal(sharp[0], img[m + dy:m + dy + 128, m + dx:m + dx + 128]):
                diff = np.abs(ref[m + dy:m + dy + 128, m + dx:m + dx + 128].astype(int) - fft_blur[0].astype(int)).max()
                print("crop offset", dy, dx)
    assert diff is not None, "the sharp crop is not a crop of the source at any offset 0-7"
    print("max |fft - filter2D| in uint8 levels:", diff)
    assert diff <= 1, diff


if __name__ == "__main__":
    _self_check()
    t = time.time()
    bank = kernel_bank(500, 0)
    print(f"kernel bank: {(time.time() - t) / 500 * 1000:.2f} ms per kernel")
    imgs = [(np.random.default_rng(1).random((720, 1280, 3)) * 255).astype(np.uint8)]
    deg = OnlineDegrader(imgs, 128, bank, 0, synthetic_fraction=0.3, colour_jitter=True)
    deg.batch(16)
    scenes = np.hstack([deg._dead_leaves() for _ in range(4)])
    cv2.imwrite("/tmp/dead_leaves.png", scenes)
    t = time.time()
    for _ in range(10):
        s, y = deg.batch(16)
    print(f"batch of 16: {(time.time() - t) / 10 * 1000:.1f} ms", s.shape, y.shape, s.dtype)
