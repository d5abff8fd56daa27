"""Golden fixtures for Tests/DenseTests: segmentation_models.pytorch's U-Net DecoderBlock and FPN blocks on fixed
weights, and the segmentation losses, computed by PyTorch.

The block classes below are copied from segmentation_models.pytorch 0.3/0.4 (`smp/decoders/unet/decoder.py`,
`smp/decoders/fpn/decoder.py`, `smp/base/modules.py`) with one change that TransferKit also makes: the FPN
segmentation blocks use BatchNorm2d where smp uses GroupNorm(32). Run:

    /opt/torchvenv/bin/python tools/make_segmentation_fixtures.py Tests/DenseTests/Fixtures/dense_golden.safetensors
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file


def conv_relu(cin, cout):  # smp md.Conv2dReLU(use_batchnorm=True)
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DecoderBlock(nn.Module):
    def __init__(self, in_channels, skip_channels, out_channels):
        super().__init__()
        self.conv1 = conv_relu(in_channels + skip_channels, out_channels)
        self.conv2 = conv_relu(out_channels, out_channels)

    def forward(self, x, skip=None):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class FPNBlock(nn.Module):
    def __init__(self, pyramid_channels, skip_channels):
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_channels, pyramid_channels, kernel_size=1)

    def forward(self, x, skip):
        return F.interpolate(x, scale_factor=2, mode="nearest") + self.skip_conv(skip)


class Conv3x3BNReLU(nn.Module):
    def __init__(self, cin, cout, upsample=False):
        super().__init__()
        self.upsample = upsample
        self.block = conv_relu(cin, cout)

    def forward(self, x):
        x = self.block(x)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return x


class SegmentationBlock(nn.Module):
    def __init__(self, cin, cout, n_upsamples=0):
        super().__init__()
        blocks = [Conv3x3BNReLU(cin, cout, upsample=bool(n_upsamples))]
        for _ in range(1, n_upsamples):
            blocks.append(Conv3x3BNReLU(cout, cout, upsample=True))
        self.block = nn.Sequential(*blocks)

    def forward(self, x):
        return self.block(x)


def randomize_bn(module, g):
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = torch.rand(m.num_features, generator=g) + 0.5
            m.bias.data = torch.randn(m.num_features, generator=g) * 0.1
            m.running_mean.data = torch.randn(m.num_features, generator=g) * 0.1
            m.running_var.data = torch.rand(m.num_features, generator=g) + 0.5


def export(prefix, module, out):
    for k, v in module.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        # TransferKit's SegmentationBlock keeps its units in one Sequential: block.N.block.M → block.N.M
        out[prefix + k.replace(".block.", ".")] = v.contiguous()


def main(path):
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    out = {}
    unet = DecoderBlock(8, 4, 6).eval()
    randomize_bn(unet, g)
    x = torch.randn(2, 8, 4, 5, generator=g)
    skip = torch.randn(2, 4, 8, 10, generator=g)
    with torch.no_grad():
        out["unet.output"] = unet(x, skip)
        out["unet.output_noskip"] = unet.conv2(unet.conv1(torch.cat([F.interpolate(x, scale_factor=2), torch.zeros(2, 4, 8, 10)], 1)))
    export("unet.block.", unet, out)
    out["unet.x"], out["unet.skip"] = x, skip

    fpn = FPNBlock(6, 5).eval()
    fx = torch.randn(1, 6, 3, 4, generator=g)
    fskip = torch.randn(1, 5, 6, 8, generator=g)
    with torch.no_grad():
        out["fpn.output"] = fpn(fx, fskip)
    export("fpn.block.", fpn, out)
    out["fpn.x"], out["fpn.skip"] = fx, fskip

    seg = SegmentationBlock(6, 4, n_upsamples=2).eval()
    randomize_bn(seg, g)
    sx = torch.randn(1, 6, 3, 4, generator=g)
    with torch.no_grad():
        out["seg.output"] = seg(sx)
    export("seg.block.", seg, out)
    out["seg.x"] = sx

    # Losses on logits [2, 3, 4, 5] with some pixels ignored (255).
    logits = torch.randn(2, 3, 4, 5, generator=g)
    labels = torch.randint(0, 3, (2, 4, 5), generator=g)
    labels[0, 0, :2] = 255
    valid = labels != 255
    ce = F.cross_entropy(logits, labels, ignore_index=255)
    p = logits.softmax(1).permute(0, 2, 3, 1)[valid]           # [P, C]
    y = F.one_hot(labels[valid], 3).float()
    inter = (p * y).sum(0)
    card = (p + y).sum(0)
    dice = 1 - (2 * inter / card.clamp_min(1e-7))
    dice = (dice * (y.sum(0) > 0).float()).mean()
    logpt = logits.log_softmax(1).permute(0, 2, 3, 1)[valid].gather(1, labels[valid][:, None]).squeeze(1)
    focal = (-(1 - logpt.exp()) ** 2 * logpt).mean()
    out["loss.logits"] = logits
    out["loss.labels"] = labels.float()
    out["loss.values"] = torch.stack([ce, dice, focal])
    save_file({k: v.float().contiguous() for k, v in out.items()}, path)
    print(f"wrote {len(out)} tensors to {path}")


if __name__ == "__main__":
    main(sys.argv[1])
