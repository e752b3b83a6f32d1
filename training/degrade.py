"""Camera-like degradation for model v3: fresh (sharp, blurred) pairs for every training step.

The steps run in the order the camera applies them (scene -> exposure -> sensor -> ISP -> codec):

  1. scene       a crop of a sharp photograph or frame, at a surveillance scale, randomly flipped and turned;
  2. linear      undo the sRGB curve (`linear_light`, 80 % of pairs), so that the exposure integrates light, not
                 pixel values (the other 20 % are blurred in sRGB values, as most published blur sets are);
  3. highlights  lamps, headlights and sunlit surfaces above sensor white (`highlights`): bright regions are scaled
                 past 1, so that their blur streaks at full brightness, as in real night footage;
  4. exposure    one of
                   - one kernel for the crop: camera shake (Boracchi & Foi 2012 random walks), linear motion or defocus;
                   - camera rotation integrated over the exposure (`rotation`): the sharp crop is warped along a
                     sampled trajectory of roll and translation about the frame's centre, and the warps are averaged,
                     so the blur grows with the distance from the centre (Whyte et al. 2012's non-uniform model);
                   - moving objects (`objects`): an object layer with its own motion, blurred on its own and composited
                     over a static or differently blurred background (the layered model of Levin 2006, with the
                     blurred alpha, so the edges smear as a real moving object's do);
                 extents reach `max_extent` of the frame's width (5 %: 64 px at 1280, 24 px on BSDS500);
  5. saturation  the sensor clips at white (values above 1 after the blur are clipped);
  6. noise       Poisson-Gaussian sensor noise, in linear light, after the blur (`noise`);
  7. ISP         the sRGB curve again, then 8-bit quantisation;
  8. codec       H.264 as cameras send it (`h264`: libx264 at CRF 20-34, the frame coded as a P-frame after a
                 slightly shifted previous frame, or as an I-frame; 4:2:0 through OpenCV's own I420 conversion,
                 which the product uses too), or JPEG as MJPEG cameras send it (`jpeg`), or none.

Two shares of pairs teach restraint: `clean` pairs skip noise and codec, and `identity` pairs are sharp -> sharp
(the same codec on both sides), so that the network leaves sharp content alone.

Every ingredient is one switch in `Degradation`, so an ablation is a diff of two configs. A batch is a pure
function of (seed, batch index): training resumes on exactly the batches it would have drawn.

  /usr/bin/python3 training/degrade.py --datasets ../shared/datasets --show /tmp/pairs.png   # a sheet of pairs
"""
import argparse
import dataclasses
import math
import os
import subprocess
import sys
import time

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blur as B  # noqa: E402  (the version 2 kernel generators)

MAX_KERNEL = 65          # support of the largest kernel: extents up to 64 px
MARGIN = MAX_KERNEL // 2 + 1
GRID = 8                 # the crop's final offset (0-7 px), so codec block grids land anywhere


@dataclasses.dataclass
class Degradation:
    """One switch per idea. Shares are probabilities per pair."""
    linear_light: float = 0.8       # share of pairs blurred in linear light (undo and redo the sRGB curve); the rest
                                    # are blurred in sRGB values, as most published blur sets are
    highlights: float = 0.2         # share of pairs whose brightest regions exceed white before the blur
    rotation: float = 0.25          # share of blurred pairs with camera rotation (spatially varying blur)
    objects: float = 0.25           # share of blurred pairs with a moving object over the background
    max_extent: float = 0.05        # largest blur extent, as a fraction of the frame's width ...
    max_extent_px: float = 64.0     # ... and in pixels
    noise: bool = True              # Poisson-Gaussian sensor noise after the blur
    max_read_sigma: float = 0.006   # read noise in linear light (sigma drawn log-uniformly up to this)
    max_shot_gain: float = 0.005    # shot-noise gain in linear light (drawn log-uniformly up to this)
    h264: float = 0.5               # share of pairs coded with H.264 ...
    crf: tuple = (20, 34)           # ... at these CRFs
    jpeg: float = 0.15              # share of pairs coded as JPEG ...
    jpeg_quality: tuple = (50, 95)  # ... at these qualities
    clean: float = 0.1              # share of blurred pairs with no noise and no codec
    identity: float = 0.08          # share of sharp -> sharp pairs
    defocus: float = 0.12           # share of one-kernel blurs that are defocus discs
    linear_motion: float = 0.35     # share of one-kernel blurs that are straight-line motion (the rest: shake)

    @classmethod
    def from_dict(cls, d):
        d = dict(d or {})
        for k in ("crf", "jpeg_quality"):
            if k in d:
                d[k] = tuple(d[k])
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown degradation switches: {sorted(unknown)}")
        return cls(**d)


# ----------------------------------------------------------------------------------------------------------------
# sRGB curve (IEC 61966-2-1)
# ----------------------------------------------------------------------------------------------------------------
def srgb_to_linear(x):
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x):
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


# The same curves as tables: 8-bit sRGB to linear exactly, and linear (in 1/65535 steps) to 8-bit sRGB.
SRGB_TO_LINEAR = srgb_to_linear(torch.arange(256) / 255.0).float()
LINEAR_TO_SRGB_U8 = (linear_to_srgb(torch.arange(65536, dtype=torch.float64) / 65535.0) * 255.0).round().to(torch.uint8)


# ----------------------------------------------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------------------------------------------
def kernel_extent(k, level=0.02):
    """The diameter of the kernel's support (pixels above `level` of its peak)."""
    ys, xs = np.nonzero(k > k.max() * level)
    return float(max(xs.max() - xs.min(), ys.max() - ys.min()) + 1)


class KernelBank:
    """Camera-shake, linear-motion and defocus kernels of every extent up to MAX_KERNEL - 1 px, drawn once from a
    seed (Boracchi & Foi random walks are slow to draw one at a time), then flipped and transposed at use."""

    def __init__(self, seed, shake=3000, linear=1500, defocus=300):
        rng = np.random.default_rng(seed)
        self.kinds = {}
        extents = lambda n, top: np.exp(rng.uniform(np.log(2.0), np.log(top), n))  # noqa: E731
        self.kinds["shake"] = [B.shake_kernel(rng, float(e), MAX_KERNEL) for e in extents(shake, MAX_KERNEL - 3)]
        self.kinds["linear"] = [B.linear_kernel(float(e), float(rng.uniform(0, 180)), MAX_KERNEL)
                                for e in extents(linear, MAX_KERNEL - 3)]
        self.kinds["defocus"] = [B.disk_kernel(float(r), MAX_KERNEL) for r in rng.uniform(0.8, 6.0, defocus)]
        self.extent = {kind: np.array([kernel_extent(k) for k in ks]) for kind, ks in self.kinds.items()}

    def draw(self, rng, kind, max_extent):
        """A kernel of this kind with extent at most max_extent (log-uniform in extent), randomly flipped."""
        ext = self.extent[kind]
        fits = np.nonzero(ext <= max(max_extent, ext.min()))[0]
        target = draw_extent(rng, ext[fits].min(), ext[fits].max())
        i = fits[np.argmin(np.abs(ext[fits] - target) + rng.random(len(fits)) * 0.5)]
        k = self.kinds[kind][i]
        if rng.random() < 0.5:
            k = k[:, ::-1]
        if rng.random() < 0.5:
            k = k[::-1]
        if rng.random() < 0.5:
            k = k.T
        return np.ascontiguousarray(k), {"type": kind, "extent": float(ext[i])}


def fft_blur(x, k):
    """True convolution of a (C, H, W) tensor with a (K, K) kernel, circular; the caller cuts the margin."""
    h, w = x.shape[-2:]
    kp = torch.zeros(h, w)
    ks = k.shape[-1]
    kp[:ks, :ks] = torch.from_numpy(k)
    kp = torch.roll(kp, shifts=(-(ks // 2), -(ks // 2)), dims=(0, 1))
    return torch.fft.irfft2(torch.fft.rfft2(x) * torch.fft.rfft2(kp), s=(h, w))


# ----------------------------------------------------------------------------------------------------------------
# the pair generator
# ----------------------------------------------------------------------------------------------------------------
class PairGenerator:
    """Draws batches of (sharp, degraded) uint8 NHWC BGR crops from a list of sharp images."""

    def __init__(self, images, crop, seed, degradation=None, weights=None, min_short=240, max_short=1080, bank=None):
        self.images = images
        self.weights = None if weights is None else np.asarray(weights, np.float64) / np.sum(weights)
        self.crop = crop
        self.big = crop + GRID + 2 * MARGIN
        self.seed = seed
        self.d = degradation or Degradation()
        self.min_short, self.max_short = min_short, max_short
        self.bank = bank or KernelBank(seed + 1)

    # -- scene --------------------------------------------------------------------------------------------------
    def _scene(self, rng, size=None):
        """A sharp crop of `size` px and the width of the frame it was cut from (at the crop's scale)."""
        size = size or self.big
        for _ in range(100):
            im = self.images[rng.choice(len(self.images), p=self.weights)]
            h, w = im.shape[:2]
            scale = min(1.0, rng.uniform(self.min_short, self.max_short) / min(h, w))
            src = int(math.ceil(size / scale))
            if src > h or src > w:
                if min(h, w) < size:
                    continue
                src, scale = min(h, w), 1.0
                if src < size:
                    continue
            y0, x0 = int(rng.integers(0, h - src + 1)), int(rng.integers(0, w - src + 1))
            region = im[y0:y0 + src, x0:x0 + src]
            crop = region if src == size else cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA)
            if _texture(crop) < 2.0 and rng.random() < 0.8:  # mostly skip flat sky and walls
                continue
            crop = np.rot90(crop, int(rng.integers(4)))
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            return np.ascontiguousarray(crop), w * scale
        raise RuntimeError("no image is large enough for the crop")

    # -- exposure -----------------------------------------------------------------------------------------------
    def _camera_kernel(self, rng, max_extent):
        r = rng.random()
        kind = "defocus" if r < self.d.defocus else "linear" if r < self.d.defocus + self.d.linear_motion else "shake"
        k, info = self.bank.draw(rng, kind, max_extent)
        if kind != "defocus" and rng.random() < 0.25:  # a little defocus on top of motion
            k = B.conv_kernels(k, B.disk_kernel(float(rng.uniform(0.5, 1.5)), MAX_KERNEL))
            info["defocus"] = True
        return k, info

    def _rotation_blur(self, rng, lin, frame_width, max_extent):
        """Camera roll and translation over the exposure, about the frame's centre, integrated by averaging warps."""
        size = lin.shape[-1]
        # where this crop sits in its frame: the centre of rotation is the frame's centre
        reach = frame_width / 2
        cx, cy = size / 2 + rng.uniform(-reach, reach), size / 2 + rng.uniform(-reach * 0.6, reach * 0.6)
        far = max(math.hypot(cx - x, cy - y) for x in (0, size) for y in (0, size))
        extent = draw_extent(rng, 2.0, max(max_extent, 2.5))
        share = rng.uniform(0.4, 1.0)  # the part of the extent due to rotation
        theta = share * extent / max(far, 1.0)
        steps = 24
        t = np.linspace(-0.5, 0.5, steps)
        wobble = rng.uniform(-0.5, 0.5)  # a trajectory that bends: rotation speed changes within the exposure
        angles = theta * (t + wobble * (t ** 2 - 1 / 12))
        walk = B.shake_trajectory(rng, num_t=steps * 4)[::4][:steps]
        walk = walk - walk.mean()
        span = max(np.abs(walk - walk[0]).max(), 1e-6)
        shift = walk / span * (1 - share) * extent
        img = lin.permute(1, 2, 0).numpy()
        acc = np.zeros_like(img)
        for a, s in zip(angles, shift):
            m = cv2.getRotationMatrix2D((cx, cy), math.degrees(a), 1.0)
            m[0, 2] += s.real
            m[1, 2] += s.imag
            acc += cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        acc /= steps
        return torch.from_numpy(acc).permute(2, 0, 1).contiguous(), {"type": "rotation", "extent": round(extent, 2),
                                                                    "roll_deg": round(math.degrees(theta), 3)}

    def _object(self, rng):
        """An object layer: a crop of another image under a soft random blob."""
        fg, _ = self._scene(rng)
        size = self.big
        mask = np.zeros((size, size), np.float32)
        cx, cy = rng.uniform(0.25, 0.75, 2) * size
        base = rng.uniform(0.08, 0.25) * size
        for _ in range(int(rng.integers(1, 4))):  # a few overlapping ellipses: bodies, cars, bags
            ox, oy = rng.normal(0, base * 0.4, 2)
            axes = (int(base * rng.uniform(0.4, 1.0)), int(base * rng.uniform(0.4, 1.0)))
            cv2.ellipse(mask, (int(cx + ox), int(cy + oy)), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
        mask = cv2.GaussianBlur(mask, (0, 0), 0.7)
        return fg, mask

    def _exposure(self, rng, lin, frame_width, info):
        """The blurred linear image, and the sharp linear target (which differs only when an object moves)."""
        max_extent = min(self.d.max_extent * frame_width, self.d.max_extent_px)
        if self.d.objects > 0 and rng.random() < self.d.objects:
            fg, alpha = self._object(rng)
            fg = self._linear_u8(fg)
            a = torch.from_numpy(alpha)[None]
            k_obj, oinfo = self.bank.draw(rng, "linear" if rng.random() < 0.7 else "shake", max_extent)
            static = rng.random() < 0.6  # a fixed camera: only the object moves
            if static:
                bg = lin
            else:
                k_cam, cinfo = self._camera_kernel(rng, max_extent * 0.5)
                bg = fft_blur(lin, k_cam)
                k_obj = B.conv_kernels(k_obj, k_cam)
                info["camera"] = cinfo
            blurred = (1 - fft_blur(a, k_obj)) * bg + fft_blur(a * fg, k_obj)
            target = a * fg + (1 - a) * lin
            info.update(type="object", object=oinfo, static_background=static)
            return blurred, target
        if self.d.rotation > 0 and rng.random() < self.d.rotation:
            blurred, rinfo = self._rotation_blur(rng, lin, frame_width, max_extent)
            info.update(rinfo)
            return blurred, lin
        k, kinfo = self._camera_kernel(rng, max_extent)
        info.update(kinfo)
        return fft_blur(lin, k), lin

    def _linear_u8(self, u8):
        """A uint8 HWC crop as a float CHW tensor in linear light (or in sRGB values, for a pair blurred in sRGB)."""
        t = torch.from_numpy(np.ascontiguousarray(u8)).permute(2, 0, 1).long()
        return SRGB_TO_LINEAR[t] if self._linear else t.float() / 255.0

    def _display_u8(self, x):
        """Back to 8-bit sRGB HWC."""
        if self._linear:
            return LINEAR_TO_SRGB_U8[(x.clamp(0, 1) * 65535.0).round_().long()].permute(1, 2, 0).numpy().copy()
        return _to_u8(x.clamp(0, 1))

    def _highlights(self, rng, lin, srgb):
        """Bright regions above sensor white: the brightest surfaces scaled past 1, and a few small lamps."""
        luma = srgb.max(0).values
        bright = ((luma - 0.92) / 0.06).clamp(0, 1)
        gain = _log_uniform(rng, 1.2, 4.0)
        out = lin * (1 + (gain - 1) * bright[None])
        size = lin.shape[-1]
        lamps = np.zeros((size, size), np.float32)
        for _ in range(int(rng.integers(0, 4))):
            cv2.circle(lamps, tuple(int(v) for v in rng.uniform(0, size, 2)), int(rng.integers(1, 4)), 1.0, -1, cv2.LINE_AA)
        colour = torch.from_numpy(rng.uniform(0.7, 1.0, 3).astype(np.float32))[:, None, None]
        out = torch.maximum(out, torch.from_numpy(lamps)[None] * colour * _log_uniform(rng, 1.5, 8.0))
        return out

    def _noise(self, rng, lin, info):
        sigma = _log_uniform(rng, 1e-4, self.d.max_read_sigma)
        gain = _log_uniform(rng, 1e-4, self.d.max_shot_gain)
        std = torch.sqrt(gain * lin.clamp(0, 1) + sigma ** 2)
        g = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
        info["noise"] = {"read_sigma": round(sigma, 5), "shot_gain": round(gain, 5)}
        return lin + std * torch.randn(lin.shape, generator=g)

    # -- a batch ------------------------------------------------------------------------------------------------
    def sample(self, rng, scene=None, frame_width=None):
        """One pair before the codec: (sharp uint8 HWC, degraded uint8 HWC, codec wanted, info). The scene (a crop
        of `big` px with the width of its frame) is drawn here unless given."""
        info = {}
        if scene is None:
            scene, frame_width = self._scene(rng)
        inner = slice(MARGIN, MARGIN + self.crop + GRID)
        if self.d.identity > 0 and rng.random() < self.d.identity:
            info["type"] = "identity"
            u8 = np.ascontiguousarray(scene[inner, inner])
            return u8, u8.copy(), self._codec(rng), info
        self._linear = rng.random() < self.d.linear_light
        info["linear_light"] = self._linear
        lin = self._linear_u8(scene)
        if self.d.highlights > 0 and rng.random() < self.d.highlights:
            lin = self._highlights(rng, lin, torch.from_numpy(scene).permute(2, 0, 1).float() / 255.0)
            info["highlights"] = True
        blurred, target = self._exposure(rng, lin, frame_width, info)
        blurred = blurred[:, inner, inner].clamp(0, 1)  # the sensor saturates; the margin was only for the blur
        target = target[:, inner, inner].clamp(0, 1)
        clean = rng.random() < self.d.clean
        if self.d.noise and not clean:
            blurred = self._noise(rng, blurred, info)
        sharp_u8 = self._display_u8(target)
        blurred_u8 = self._display_u8(blurred)
        info["clean"] = clean
        return sharp_u8, blurred_u8, None if clean else self._codec(rng), info

    def _codec(self, rng):
        r = rng.random()
        if r < self.d.h264:
            return "h264"
        if r < self.d.h264 + self.d.jpeg:
            return ("jpeg", int(rng.integers(self.d.jpeg_quality[0], self.d.jpeg_quality[1] + 1)))
        return None

    def batch(self, index, n):
        """Batch number `index`: (sharp, degraded) uint8 N x crop x crop x 3, and the per-pair infos."""
        rng = np.random.default_rng([self.seed, index])
        pairs = [self.sample(rng) for _ in range(n)]
        sharp = np.stack([p[0] for p in pairs])
        degraded = np.stack([p[1] for p in pairs])
        infos = [p[3] for p in pairs]
        h264 = [i for i, p in enumerate(pairs) if p[2] == "h264"]
        if h264:
            crf = int(rng.integers(self.d.crf[0], self.d.crf[1] + 1))
            coded = h264_roundtrip([degraded[i] for i in h264], crf, rng)
            for i, c in zip(h264, coded):
                degraded[i] = c
                infos[i]["codec"] = f"h264 crf {crf}"
        for i, p in enumerate(pairs):
            if isinstance(p[2], tuple):
                degraded[i] = B.jpeg(degraded[i], p[2][1])
                infos[i]["codec"] = f"jpeg q{p[2][1]}"
            if infos[i].get("type") == "identity":
                sharp[i] = degraded[i]  # sharp -> sharp: the same codec on both sides
        oy, ox = (int(v) for v in rng.integers(0, GRID, 2))
        c = self.crop
        return (np.ascontiguousarray(sharp[:, oy:oy + c, ox:ox + c]),
                np.ascontiguousarray(degraded[:, oy:oy + c, ox:ox + c]), infos)


def draw_extent(rng, lo, hi):
    """Blur extents: half log-uniform (small blurs are common), half uniform (large ones are what needs learning)."""
    if rng.random() < 0.5:
        return _log_uniform(rng, lo, hi)
    return float(rng.uniform(lo, hi))


def _log_uniform(rng, lo, hi):
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _to_u8(x):
    return (x * 255.0).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy().copy()


def _texture(p):
    g = cv2.cvtColor(p, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(g, cv2.CV_32F)).mean())


# ----------------------------------------------------------------------------------------------------------------
# H.264, as a camera sends it
# ----------------------------------------------------------------------------------------------------------------
def h264_roundtrip(frames, crf, rng, preset=None):
    """Codes each BGR frame with libx264 and decodes it again. Each frame is preceded by a copy of itself shifted by
    up to 2 px (the previous frame of a slightly moving camera), so that most frames are coded as P-frames, as in a
    camera's stream; a quarter are coded as I-frames. Colour goes through OpenCV's I420 conversion both ways, the
    conversion the product's pipeline uses."""
    h, w = frames[0].shape[:2]
    preset = preset or ["veryfast", "faster", "fast", "medium"][int(rng.integers(4))]
    sequence, pick = [], []
    for f in frames:
        dy, dx = (int(v) for v in rng.integers(-2, 3, 2))
        previous = np.roll(f, (dy, dx), axis=(0, 1))
        if rng.random() < 0.25:
            pick.append(len(sequence))
            sequence += [f, previous]
        else:
            pick.append(len(sequence) + 1)
            sequence += [previous, f]
    yuv = [cv2.cvtColor(f, cv2.COLOR_BGR2YUV_I420) for f in sequence]
    decoded = _x264_pyav(yuv, w, h, crf, preset) if _av is not None else _x264_ffmpeg(yuv, w, h, crf, preset)
    return [cv2.cvtColor(decoded[i], cv2.COLOR_YUV2BGR_I420) for i in pick]


X264_PARAMS = "keyint=2:min-keyint=2:scenecut=0:bframes=0"
try:
    import av as _av  # python3-av: libx264 in process, no ffmpeg start-up per batch
except ImportError:  # pragma: no cover
    _av = None


def _x264_pyav(yuv, w, h, crf, preset):
    import io
    buf = io.BytesIO()
    with _av.open(buf, "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset, "x264-params": X264_PARAMS, "threads": "1"}
        for f in yuv:
            for packet in stream.encode(_av.VideoFrame.from_ndarray(f, format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with _av.open(io.BytesIO(buf.getvalue()), "r", format="h264") as inp:
        frames = [f.to_ndarray(format="yuv420p") for f in inp.decode(video=0)]
    if len(frames) != len(yuv):
        raise RuntimeError(f"h264 round trip returned {len(frames)} of {len(yuv)} frames")
    return frames


def _x264_ffmpeg(yuv, w, h, crf, preset):
    raw = b"".join(f.tobytes() for f in yuv)
    size = f"{w}x{h}"
    encode = ["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", size, "-r", "25", "-i", "-",
              "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
              "-x264-params", X264_PARAMS, "-f", "h264", "-"]
    decode = ["ffmpeg", "-v", "error", "-f", "h264", "-i", "-", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]
    coded = subprocess.run(encode, input=raw, capture_output=True, check=True).stdout
    decoded = subprocess.run(decode, input=coded, capture_output=True, check=True).stdout
    n = h * w * 3 // 2
    if len(decoded) != n * len(yuv):
        raise RuntimeError(f"h264 round trip returned {len(decoded) // n} of {len(yuv)} frames")
    return list(np.frombuffer(decoded, np.uint8).reshape(len(yuv), h * 3 // 2, w))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default=None)
    ap.add_argument("--show", default="/tmp/pairs.png")
    ap.add_argument("--batches", type=int, default=3)
    a = ap.parse_args()
    import sources
    srcs = [s for s in sources.collect(a.datasets or sources.DEFAULT_DATASETS) if s.split == "train"]
    images = [im for _, _, im in sources.load_images(srcs[:60] + srcs[-40:], video_every=50)]
    t = time.time()
    gen = PairGenerator(images, 192, 5)
    print(f"kernel bank: {time.time() - t:.1f} s")
    t = time.time()
    rows = []
    for b in range(a.batches):
        s, y, infos = gen.batch(b, 8)
        rows.append(np.hstack([np.vstack([s[i], y[i]]) for i in range(8)]))
        for i in infos:
            print(i)
    print(f"{(time.time() - t) / a.batches * 1000:.0f} ms per batch of 8")
    cv2.imwrite(a.show, np.vstack(rows))


if __name__ == "__main__":
    main()


# ----------------------------------------------------------------------------------------------------------------
# the fixed-camera variant: a blurry frame and the last sharp frame of the same camera
# ----------------------------------------------------------------------------------------------------------------
class FixedCameraGenerator(PairGenerator):
    """Triplets for the two-frame network: (sharp frame t, its degraded version, a reference frame aligned to it).

    From real fixed-camera footage (`clip_share` of the triplets): frame t and a sharp frame t-k of the same clip
    (k from 1 to 75 frames, log-uniform: the last sharp frame is usually recent), cut at the same place. From
    stills: the same scene. In both, the reference then gets what the product's reference has after alignment:
    a residual misalignment (sub-pixel to 2 px, a fraction of a degree), a lighting drift, its own sensor noise and
    the same codec as the current frame. Some references hold an object that has gone from the current frame
    (`vanished` for stills, `vanished_in_clips` for clips, where people and cars also leave on their own), some
    current frames hold a moving object that the reference lacks (the degradation's `objects`),
    and a few references are of another scene altogether (`unrelated`, a missed cut): the target is always the
    current sharp frame, so the network learns to take from the reference only what the present frame shows."""

    def __init__(self, images, clips, crop, seed, degradation=None, weights=None, clip_share=0.6,
                 vanished=0.25, unrelated=0.05, vanished_in_clips=0.0, **kw):
        super().__init__(images, crop, seed, degradation, weights, **kw)
        self.clips = [c for c in clips if min(c.shape[1:3]) >= self.big]
        if not self.clips:
            raise ValueError(f"no clip is large enough for {self.big} px crops")
        self.clip_share, self.vanished, self.unrelated = clip_share, vanished, unrelated
        self.vanished_in_clips = vanished_in_clips

    def _clip_scenes(self, rng):
        clip = self.clips[int(rng.integers(len(self.clips)))]
        count, h, w = clip.shape[:3]
        k = int(round(_log_uniform(rng, 1.0, 75.0)))
        t = int(rng.integers(min(k, count - 1), count))
        y0, x0 = int(rng.integers(0, h - self.big + 1)), int(rng.integers(0, w - self.big + 1))
        turns, flip = int(rng.integers(4)), rng.random() < 0.5

        def cut(frame):
            c = np.rot90(frame[y0:y0 + self.big, x0:x0 + self.big], turns)
            return np.ascontiguousarray(c[:, ::-1] if flip else c)
        return cut(clip[t]), cut(clip[t - min(k, t)]), float(w), {"reference_age_frames": min(k, t)}

    def _as_reference(self, rng, ref):
        """The reference as the product hands it over: aligned, but not perfectly, and lit a little differently."""
        size = ref.shape[0]
        angle = rng.uniform(-0.4, 0.4)
        scale = 1 + rng.uniform(-0.005, 0.005)
        m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
        m[:, 2] += rng.uniform(-1.5, 1.5, 2)
        warped = cv2.warpAffine(ref, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        x = warped.astype(np.float32) / 255.0
        gain = rng.uniform(0.85, 1.15) * rng.uniform(0.97, 1.03, 3).astype(np.float32)
        x = np.clip(x, 0, 1) ** rng.uniform(0.9, 1.1) * gain
        return _to_u8(torch.from_numpy(np.clip(x, 0, 1)).permute(2, 0, 1))

    def triplet(self, rng):
        info = {}
        if rng.random() < self.clip_share:
            scene, ref, frame_width, info = self._clip_scenes(rng)
            info["source"] = "clip"
            vanished = self.vanished_in_clips
        else:
            scene, frame_width = self._scene(rng)
            ref = scene.copy()
            info["source"] = "still"
            vanished = self.vanished
        if vanished > 0 and rng.random() < vanished:  # an object that has left since the reference
            fg, alpha = self._object(rng)
            ref = (alpha[..., None] * fg + (1 - alpha[..., None]) * ref).round().astype(np.uint8)
            info["vanished_object"] = True
        if rng.random() < self.unrelated:
            ref, _ = self._scene(rng)
            info["unrelated_reference"] = True
        sharp, degraded, codec, pinfo = self.sample(rng, scene, frame_width)
        info.update(pinfo)
        inner = slice(MARGIN, MARGIN + self.crop + GRID)
        reference = self._as_reference(rng, np.ascontiguousarray(ref[inner, inner]))
        if self.d.noise:  # the reference frame has sensor noise of its own
            lin = SRGB_TO_LINEAR[torch.from_numpy(reference).permute(2, 0, 1).long()]
            noisy = self._noise(rng, lin, {}).clamp(0, 1)
            reference = LINEAR_TO_SRGB_U8[(noisy * 65535.0).round_().long()].permute(1, 2, 0).numpy().copy()
        return sharp, degraded, reference, codec, info

    def batch(self, index, n):
        """Batch number `index`: (sharp, degraded, reference) uint8 N x crop x crop x 3, and the per-triplet infos."""
        rng = np.random.default_rng([self.seed, index])
        items = [self.triplet(rng) for _ in range(n)]
        sharp = np.stack([t[0] for t in items])
        degraded = np.stack([t[1] for t in items])
        reference = np.stack([t[2] for t in items])
        infos = [t[4] for t in items]
        h264 = [i for i, t in enumerate(items) if t[3] == "h264"]
        if h264:
            crf = int(rng.integers(self.d.crf[0], self.d.crf[1] + 1))
            for i, c in zip(h264, h264_roundtrip([degraded[i] for i in h264], crf, rng)):
                degraded[i] = c
                infos[i]["codec"] = f"h264 crf {crf}"
            for i, c in zip(h264, h264_roundtrip([reference[i] for i in h264], crf, rng)):
                reference[i] = c
        for i, t in enumerate(items):
            if isinstance(t[3], tuple):
                degraded[i] = B.jpeg(degraded[i], t[3][1])
                reference[i] = B.jpeg(reference[i], t[3][1])
                infos[i]["codec"] = f"jpeg q{t[3][1]}"
            if infos[i].get("type") == "identity":
                sharp[i] = degraded[i]
        oy, ox = (int(v) for v in rng.integers(0, GRID, 2))
        c = self.crop
        crop = lambda a: np.ascontiguousarray(a[:, oy:oy + c, ox:ox + c])  # noqa: E731
        return crop(sharp), crop(degraded), crop(reference), infos
