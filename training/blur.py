"""Synthetic blur / degradation generator for StreamDeblur.

Degradation model (applied to a sharp uint8 BGR image):
    y = JPEG( quantize( k * x + n ) )
where k is one of
  * camera-shake PSF: random-walk trajectory with inertia, abrupt shakes and a
    centripetal term, in the manner of Boracchi & Foi (2012, "Modeling the
    performance of image restoration from motion blur"), rasterised with
    sub-pixel (bilinear) accumulation and scaled to a target extent,
  * linear motion kernel at any angle (anti-aliased),
  * small defocus disk (anti-aliased),
  optionally convolved with a small disk (slight defocus on top of motion),
and n is Poisson-Gaussian sensor noise. Finally the frame is JPEG re-compressed
(random quality) because surveillance frames are compressed.

Blur strength is kept moderate: motion extent 3..21 px at ~720p scale.

Convolution convention: blurred = true 2-D convolution with the returned kernel
(cv2.filter2D with the flipped kernel), i.e. the same convention as
skimage.restoration.wiener / richardson_lucy.
"""
import numpy as np
import cv2

KSIZE = 33  # fixed odd kernel support (max extent 21 px + defocus + margin)

# Sensor noise and compression after the blur; online.py applies the same ones to whole batches.
MAX_SIGMA = 0.02  # Gaussian read noise, sigma drawn from [0, MAX_SIGMA]
MAX_POISSON = 0.002  # shot-noise gain, drawn from [0, MAX_POISSON] for half of the images
POISSON_PROB = 0.5
JPEG_PROB = 0.85
JPEG_QUALITY = (40, 90)


# ----------------------------------------------------------------------------
# rasterisation helpers
# ----------------------------------------------------------------------------
def _splat(points, ksize=KSIZE):
    """Bilinear-splat complex points (x + iy) into a ksize x ksize kernel,
    centred on the points' centre of mass. Returns normalised float32 kernel."""
    pts = np.asarray(points)
    px = pts.real - pts.real.mean()
    py = pts.imag - pts.imag.mean()
    c = (ksize - 1) / 2.0
    px = px + c
    py = py + c
    k = np.zeros((ksize, ksize), np.float64)
    x0 = np.floor(px).astype(int)
    y0 = np.floor(py).astype(int)
    fx = px - x0
    fy = py - y0
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                      (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xx = np.clip(x0 + dx, 0, ksize - 1)
        yy = np.clip(y0 + dy, 0, ksize - 1)
        np.add.at(k, (yy, xx), w)
    k /= k.sum()
    return k.astype(np.float32)


def _scale_to_extent(z, length):
    """Scale a complex trajectory so that its largest extent equals `length`."""
    z = z - z.mean()
    ext = max(np.ptp(z.real), np.ptp(z.imag), 1e-6)
    # use the diameter of the point set (max pairwise distance approx.)
    d = np.abs(z[:, None] - z[None, ::max(1, len(z) // 64)]).max()
    ext = max(d, 1e-6)
    return z * (length / ext)


# ----------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------
def shake_trajectory(rng, num_t=600, anxiety=None):
    """Random-walk camera trajectory with inertia (Boracchi & Foi style).
    Returns complex array of positions (arbitrary units)."""
    max_len = 60.0
    if anxiety is None:
        anxiety = 0.1 * rng.random()
    centripetal = 0.7 * rng.random()
    prob_big_shake = 0.2 * rng.random()
    gaussian_term = 10.0 * rng.random()
    step = max_len / (num_t - 1)
    v = np.exp(1j * rng.random() * np.pi) * step
    x = np.zeros(num_t, np.complex128)
    u = rng.random(num_t)
    u2 = rng.random(num_t)
    g = rng.standard_normal(num_t) + 1j * rng.standard_normal(num_t)
    for t in range(num_t - 1):
        if u[t] < prob_big_shake * anxiety:
            nxt = 2 * v * np.exp(1j * (np.pi + (u2[t] - 0.5)))
        else:
            nxt = 0.0
        dv = nxt + anxiety * (gaussian_term * g[t] - centripetal * x[t]) * step
        v = v + dv
        v = v / (abs(v) + 1e-12) * step
        x[t + 1] = x[t] + v
    return x


def shake_kernel(rng, length, ksize=KSIZE):
    """Camera-shake PSF with extent ~`length` px. A random exposure fraction of
    the trajectory is used (as in Boracchi & Foi's PSF sampling)."""
    x = shake_trajectory(rng)
    frac = rng.uniform(0.5, 1.0)
    n = max(8, int(len(x) * frac))
    s = rng.integers(0, len(x) - n + 1)
    z = x[s:s + n]
    z = _scale_to_extent(z, length)
    # resample densely (sub-pixel steps) for smooth rasterisation
    seg = np.abs(np.diff(z)).sum()
    m = int(max(64, seg * 8))
    t = np.linspace(0, len(z) - 1, m)
    zr = np.interp(t, np.arange(len(z)), z.real) + 1j * np.interp(t, np.arange(len(z)), z.imag)
    return _splat(zr, ksize)


def linear_kernel(length, angle_deg, ksize=KSIZE):
    """Anti-aliased linear motion kernel of given length (px) and angle."""
    if length <= 1.0:
        k = np.zeros((ksize, ksize), np.float32)
        k[ksize // 2, ksize // 2] = 1.0
        return k
    a = np.deg2rad(angle_deg)
    m = int(max(32, length * 8))
    t = np.linspace(-0.5, 0.5, m) * (length - 1.0)
    z = t * np.cos(a) + 1j * t * np.sin(a)
    return _splat(z, ksize)


def disk_kernel(radius, ksize=KSIZE, ss=8):
    """Anti-aliased defocus disk of given radius (px)."""
    c = (ksize - 1) / 2.0
    g = (np.arange(ksize * ss) + 0.5) / ss - 0.5
    yy, xx = np.meshgrid(g - c, g - c, indexing="ij")
    m = (xx ** 2 + yy ** 2 <= radius ** 2).astype(np.float64)
    k = m.reshape(ksize, ss, ksize, ss).mean(axis=(1, 3))
    if k.sum() <= 0:
        k[int(c), int(c)] = 1
    k /= k.sum()
    return k.astype(np.float32)


def conv_kernels(a, b):
    """Full convolution of two kernels, cropped back to a's size."""
    ks = a.shape[0]
    out = cv2.filter2D(a, -1, cv2.flip(b, -1), borderType=cv2.BORDER_CONSTANT)
    out = np.maximum(out[:ks, :ks], 0)
    return (out / out.sum()).astype(np.float32)


def random_kernel(rng, min_len=3.0, max_len=21.0, allow_identity=False, ksize=KSIZE):
    """Sample a blur kernel. Returns (kernel, info dict)."""
    r = rng.random()
    if allow_identity and r < 0.08:
        k = disk_kernel(0.3, ksize)  # ~delta (sharp frame)
        return k, {"type": "none"}
    r = rng.random()
    length = float(rng.uniform(min_len, max_len))
    if r < 0.45:
        k = shake_kernel(rng, length, ksize)
        info = {"type": "shake", "length": round(length, 2)}
    elif r < 0.85:
        ang = float(rng.uniform(0, 180))
        k = linear_kernel(length, ang, ksize)
        info = {"type": "linear", "length": round(length, 2), "angle": round(ang, 1)}
    else:
        rad = float(rng.uniform(1.0, 3.0))
        return disk_kernel(rad, ksize), {"type": "defocus", "radius": round(rad, 2)}
    if rng.random() < 0.3:  # a little defocus on top of motion
        rad = float(rng.uniform(0.5, 1.5))
        k = conv_kernels(k, disk_kernel(rad, ksize))
        info["defocus"] = round(rad, 2)
    return k, info


# ----------------------------------------------------------------------------
# image degradation
# ----------------------------------------------------------------------------
def apply_kernel(img, k):
    """True convolution of a float32 HxWxC image with kernel k (reflect border)."""
    return cv2.filter2D(img, -1, cv2.flip(k, -1), borderType=cv2.BORDER_REFLECT)


def add_noise(x, rng, max_sigma=MAX_SIGMA, max_poisson=MAX_POISSON):
    """Poisson-Gaussian noise on float image in [0,1]."""
    sigma = rng.uniform(0.0, max_sigma)
    a = rng.uniform(0.0, max_poisson) if rng.random() < POISSON_PROB else 0.0
    std = np.sqrt(a * np.clip(x, 0, 1) + sigma ** 2)
    return x + std * rng.standard_normal(x.shape).astype(np.float32), {"sigma": round(sigma, 4), "poisson": round(a, 5)}


def jpeg(img_u8, q):
    ok, buf = cv2.imencode(".jpg", img_u8, [cv2.IMWRITE_JPEG_QUALITY, int(q)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def degrade(sharp_u8, rng, kernel=None, min_len=3.0, max_len=21.0, allow_identity=False,
            noise=True, jpeg_prob=JPEG_PROB, q_range=JPEG_QUALITY):
    """Blur + noise + JPEG a sharp uint8 BGR image.
    Returns (blurred uint8 BGR, kernel float32, info dict)."""
    if kernel is None:
        kernel, info = random_kernel(rng, min_len, max_len, allow_identity)
    else:
        info = {"type": "given"}
    x = sharp_u8.astype(np.float32) / 255.0
    y = apply_kernel(x, kernel)
    if noise:
        y, ninfo = add_noise(y, rng)
        info.update(ninfo)
    y = np.clip(np.round(y * 255.0), 0, 255).astype(np.uint8)
    if rng.random() < jpeg_prob:
        q = int(rng.integers(q_range[0], q_range[1] + 1))
        y = jpeg(y, q)
        info["jpeg_q"] = q
    return y, kernel, info


def blur(sharp_u8, rng=None, **kw):
    """Convenience API: returns (blurred, kernel)."""
    rng = rng if rng is not None else np.random.default_rng()
    y, k, _ = degrade(sharp_u8, rng, **kw)
    return y, k


if __name__ == "__main__":
    import time
    rng = np.random.default_rng(0)
    t = time.time()
    for i in range(50):
        k, info = random_kernel(rng)
    print("kernel gen ms", (time.time() - t) / 50 * 1000, info)
    img = (np.random.default_rng(1).random((200, 200, 3)) * 255).astype(np.uint8)
    t = time.time()
    for i in range(50):
        y, k, info = degrade(img, rng)
    print("degrade ms", (time.time() - t) / 50 * 1000, info, k.shape, k.sum())
    # save a kernel montage for inspection
    ks = [random_kernel(rng)[0] for _ in range(24)]
    mont = np.vstack([np.hstack([kk / kk.max() for kk in ks[r * 6:(r + 1) * 6]]) for r in range(4)])
    cv2.imwrite("/tmp/kernels.png", cv2.resize((mont * 255).astype(np.uint8), None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST))
