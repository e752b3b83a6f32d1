"""Compact NAFNet-style deblurring network ("deblur-fast").

    x (N,3,H,W) BGR [0,1]
      -> PixelUnshuffle(2) -> conv3x3 (12 -> C)                       level 1 (H/2)
      -> [NAF blocks] -> down (2x2 s2 conv, C->2C)                    level 2 (H/4)
      -> [NAF blocks] -> down                                         level 3 (H/8)
      -> [NAF blocks] -> down                                         level 4 (H/16)
      -> [middle NAF blocks]
      -> up (1x1 conv + PixelShuffle) + skip -> [NAF blocks] ... back to level 1
      -> conv (C -> 12) -> PixelShuffle(2) -> + x -> clamp[0,1]

NAF block (Chen et al. 2022, "Simple Baselines for Image Restoration"):
    LayerNorm2d -> 1x1 (C->2C) -> depthwise 3x3 -> SimpleGate -> SCA -> 1x1 -> +skip*beta
    LayerNorm2d -> 1x1 (C->2C) -> SimpleGate -> 1x1 -> +skip*gamma
LayerNorm2d is written by hand with mean/var ops (exports to plain ONNX ops).
H and W must be multiples of 16 (PAD_MULTIPLE).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD_MULTIPLE = 16


class LayerNorm2d(nn.Module):
    def __init__(self, c, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, c, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.eps = eps

    def forward(self, x):
        mu = x.mean(1, keepdim=True)
        d = x - mu
        var = (d * d).mean(1, keepdim=True)
        return d / torch.sqrt(var + self.eps) * self.weight + self.bias


class SimpleGate(nn.Module):
    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        return a * b


class NAFBlock(nn.Module):
    def __init__(self, c, dw_expand=2, ffn_expand=2):
        super().__init__()
        dw = c * dw_expand
        self.norm1 = LayerNorm2d(c)
        self.conv1 = nn.Conv2d(c, dw, 1)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.sg = SimpleGate()
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dw // 2, dw // 2, 1))
        self.conv3 = nn.Conv2d(dw // 2, c, 1)
        ff = c * ffn_expand
        self.norm2 = LayerNorm2d(c)
        self.conv4 = nn.Conv2d(c, ff, 1)
        self.conv5 = nn.Conv2d(ff // 2, c, 1)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, inp):
        x = self.conv2(self.conv1(self.norm1(inp)))
        x = self.sg(x)
        x = x * self.sca(x)
        x = self.conv3(x)
        y = inp + x * self.beta
        x = self.conv5(self.sg(self.conv4(self.norm2(y))))
        return y + x * self.gamma


class DeblurNet(nn.Module):
    def __init__(self, width=12, enc=(1, 1, 3), middle=4, dec=(1, 1, 1)):
        super().__init__()
        self.config = dict(width=width, enc=list(enc), middle=middle, dec=list(dec))
        self.unshuffle = nn.PixelUnshuffle(2)
        self.intro = nn.Conv2d(12, width, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        c = width
        for n in enc:
            self.encoders.append(nn.Sequential(*[NAFBlock(c) for _ in range(n)]))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2
        self.middle = nn.Sequential(*[NAFBlock(c) for _ in range(middle)])
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for n in reversed(dec):
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2)))
            c //= 2
            self.decoders.append(nn.Sequential(*[NAFBlock(c) for _ in range(n)]))
        self.ending = nn.Conv2d(width, 12, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, inp):
        x = self.intro(self.unshuffle(inp))
        skips = []
        for e, d in zip(self.encoders, self.downs):
            x = e(x)
            skips.append(x)
            x = d(x)
        x = self.middle(x)
        for u, d, s in zip(self.ups, self.decoders, reversed(skips)):
            x = u(x) + s
            x = d(x)
        x = self.shuffle(self.ending(x))
        return torch.clamp(x + inp, 0.0, 1.0)


def build(config=None):
    config = dict(config or {})
    if config.get("arch") == "dense":
        return DenseUNet(**config)
    config.pop("arch", None)
    return DeblurNet(**config)


def pad_to_multiple(x, m=PAD_MULTIPLE):
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, h, w


class ResBlock(nn.Module):
    """conv3x3 -> LeakyReLU(0.1) -> conv3x3, residual. Dense convs only: ORT's CPU kernels run these
    several times faster per MAC than the depthwise/LayerNorm mix of a NAF block. (A first run with plain
    ReLU lost 90 % of its units to dead ReLUs within 4k steps and never left the identity; ORT fuses
    LeakyRelu into the conv just as it fuses Relu.)"""

    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        with torch.no_grad():  # start each block near identity: no norm layers, so keep the residual sum tame
            self.conv2.weight.mul_(0.1)
            self.conv2.bias.zero_()

    def forward(self, x):
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.1))


class DenseUNet(nn.Module):
    """U-Net of plain 3x3 residual blocks, built for ONNX Runtime's CPU kernels.

        x -> PixelUnshuffle(2) -> conv3x3 (12 -> w0)                         level 0 (H/2)
          -> [down: 2x2 s2 conv + LeakyReLU] -> [res blocks] ...             levels 1.. (H/4, H/8, ...)
          -> up (1x1 conv + PixelShuffle) + skip -> [res blocks] ... back to level 0
          -> conv3x3 (w0 -> 12) -> PixelShuffle(2) -> + x -> clamp[0,1]

    enc[0] and dec[0] > 0 put blocks at half resolution, on space-to-depth features that still carry every
    full-resolution pixel (version 3). frames=2 is the fixed-camera variant: it also takes the last sharp
    frame of the same camera, aligned to this one, and adds its space-to-depth features to the stem's input;
    the residual and the output stay those of the blurry frame.
    """

    def __init__(self, widths=(16, 32, 64, 128), enc=(0, 1, 1), middle=2, dec=(0, 1, 1), arch="dense", frames=1):
        super().__init__()
        assert len(enc) == len(dec) == len(widths) - 1
        assert frames in (1, 2)
        self.config = dict(arch="dense", widths=list(widths), enc=list(enc), middle=middle, dec=list(dec))
        if frames == 2:
            self.config["frames"] = 2
        self.frames = frames
        self.unshuffle = nn.PixelUnshuffle(2)
        # frames=2: the aligned reference frame enters beside the blurry one (space-to-depth of both)
        self.intro = nn.Conv2d(12 * frames, widths[0], 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        for i, n in enumerate(enc):
            self.encoders.append(nn.Sequential(*[ResBlock(widths[i]) for _ in range(n)]))
            self.downs.append(nn.Conv2d(widths[i], widths[i + 1], 2, stride=2))
        self.middle = nn.Sequential(*[ResBlock(widths[-1]) for _ in range(middle)])
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for i in reversed(range(len(dec))):
            self.ups.append(nn.Sequential(nn.Conv2d(widths[i + 1], 4 * widths[i], 1, bias=False),
                                          nn.PixelShuffle(2)))
            self.decoders.append(nn.Sequential(*[ResBlock(widths[i]) for _ in range(dec[i])]))
        self.ending = nn.Conv2d(widths[0], 12, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.pad_multiple = 2 ** len(widths)

    def forward(self, inp, reference=None):
        x = self.unshuffle(inp)
        if self.frames == 2:
            x = torch.cat([x, self.unshuffle(reference)], 1)
        x = self.intro(x)
        skips = []
        for e, d in zip(self.encoders, self.downs):
            x = e(x)
            skips.append(x)
            x = F.leaky_relu(d(x), 0.1)
        x = self.middle(x)
        for u, d, s in zip(self.ups, self.decoders, reversed(skips)):
            x = d(u(x) + s)
        x = self.shuffle(self.ending(x))
        return torch.clamp(x + inp, 0.0, 1.0)
