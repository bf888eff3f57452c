"""PyTorch twins of the benchmarked ops and models (benchmarks only; needs ``torch``).

The models are built from the same ``torch.nn`` layers as torchvision's VGG16
(configuration "D": 3x3 convolutions, ReLU, 2x2 max pooling; the BatchNorm
variant for DeconvNet) with the architecture of our Keras models layer for
layer, so both sides do the same arithmetic. torchvision itself is not
imported: its PyPI wheel for torch 2.13 is built against the CUDA torch and
fails to import next to the CPU wheel ("operator torchvision::nms does not
exist"), and only its layer list would be used.

Tensors are NCHW, PyTorch's default layout, as a PyTorch user gets them.
"""

from __future__ import annotations

try:
    import torch
    import torch.nn.functional as F
    from torch import nn

    _Module = nn.Module
except ImportError:  # importable without torch (the package's import sweeps); building a twin needs it
    torch = F = nn = None
    _Module = object

VGG16_WIDTHS = (64, 128, 256, 512, 512)
VGG16_DEPTHS = (2, 2, 3, 3, 3)
# The torchvision/ImageNet statistics our preprocessing() layer applies.
_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


class _Preprocess(_Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("scale", 1.0 / torch.tensor(_STD).view(1, 3, 1, 1))
        self.register_buffer("offset", -torch.tensor(_MEAN).view(1, 3, 1, 1) / torch.tensor(_STD).view(1, 3, 1, 1))

    def forward(self, x):
        return x * self.scale + self.offset


def _conv_bn_relu(cin, cout, kernel, padding, transpose=False):
    conv = nn.ConvTranspose2d if transpose else nn.Conv2d
    # Keras' BatchNormalization defaults (epsilon 1e-3, momentum 0.99).
    bn = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)
    return nn.Sequential(conv(cin, cout, kernel, padding=padding), bn, nn.ReLU(inplace=True))


class FCN8s(_Module):
    """FCN-8s as :func:`keras_segattn.models.fcn.fcn8s` (input a multiple of 32)."""

    def __init__(self, num_classes=21, widths=VGG16_WIDTHS, depths=VGG16_DEPTHS, fc_units=4096, fc_kernel=7,
                 dropout=0.5):
        super().__init__()
        self.preprocess = _Preprocess()
        self.stages = nn.ModuleList()
        cin = 3
        for width, depth in zip(widths, depths):
            layers = []
            for _ in range(depth):
                layers += [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(inplace=True)]
                cin = width
            layers.append(nn.MaxPool2d(2))
            self.stages.append(nn.Sequential(*layers))
        self.fc = nn.Sequential(
            nn.Conv2d(cin, fc_units, fc_kernel, padding=fc_kernel // 2), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Conv2d(fc_units, fc_units, 1), nn.ReLU(inplace=True), nn.Dropout(dropout),
        )
        self.score_fr = nn.Conv2d(fc_units, num_classes, 1)
        self.score_pool4 = nn.Conv2d(widths[3], num_classes, 1)
        self.score_pool3 = nn.Conv2d(widths[2], num_classes, 1)
        self.up_pool4 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, padding=1, bias=False)
        self.up_pool3 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, padding=1, bias=False)
        self.up8 = nn.ConvTranspose2d(num_classes, num_classes, 16, stride=8, padding=4, bias=False)

    def forward(self, x):
        x = self.preprocess(x)
        pools = []
        for stage in self.stages:
            x = stage(x)
            pools.append(x)
        score = self.score_fr(self.fc(x))
        score = self.up_pool4(score) + self.score_pool4(pools[3])
        score = self.up_pool3(score) + self.score_pool3(pools[2])
        return self.up8(score)


class DeconvNet(_Module):
    """DeconvNet as :func:`keras_segattn.models.deconvnet.deconvnet` (VGG16-BN, argmax unpooling)."""

    def __init__(self, num_classes=21, widths=VGG16_WIDTHS, depths=VGG16_DEPTHS, fc_units=4096, fc_kernel=7):
        super().__init__()
        self.preprocess = _Preprocess()
        self.encoder = nn.ModuleList()
        cin = 3
        for width, depth in zip(widths, depths):
            layers = []
            for _ in range(depth):
                layers.append(_conv_bn_relu(cin, width, 3, 1))
                cin = width
            self.encoder.append(nn.Sequential(*layers))
        self.fc6 = _conv_bn_relu(cin, fc_units, fc_kernel, 0)
        self.fc7 = _conv_bn_relu(fc_units, fc_units, 1, 0)
        self.deconv_fc6 = _conv_bn_relu(fc_units, widths[-1], fc_kernel, 0, transpose=True)
        self.decoder = nn.ModuleList()
        for stage in range(len(widths), 0, -1):
            depth, layers = depths[stage - 1], []
            for i in range(1, depth + 1):
                last = i == depth and stage > 1
                cout = widths[stage - 2] if last else widths[stage - 1]
                layers.append(_conv_bn_relu(widths[stage - 1], cout, 3, 1, transpose=True))
            self.decoder.append(nn.Sequential(*layers))
        self.logits = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x):
        x = self.preprocess(x)
        switches = []
        for stage in self.encoder:
            x = stage(x)
            x, index = F.max_pool2d(x, 2, return_indices=True)
            switches.append(index)
        x = self.deconv_fc6(self.fc7(self.fc6(x)))
        for stage, index in zip(self.decoder, reversed(switches)):
            x = stage(F.max_unpool2d(x, index, 2))
        return self.logits(x)


def pool_unpool(x):
    pooled, index = F.max_pool2d(x, 2, return_indices=True)
    return F.max_unpool2d(pooled, index, 2)


def affine_sample(images, theta, size):
    grid = F.affine_grid(theta, (images.shape[0], images.shape[1], *size), align_corners=True)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


class AdditiveAttention(_Module):
    """Bahdanau's ``v^T tanh(W s + U h_j)``, softmax over j, weighted sum: the straightforward version."""

    def __init__(self, query_dim, value_dim, units):
        super().__init__()
        self.query = nn.Linear(query_dim, units, bias=False)
        self.key = nn.Linear(value_dim, units, bias=False)
        self.v = nn.Linear(units, 1, bias=False)

    def forward(self, query, values):
        # query (B, T, Dq), values (B, S, Dv) -> scores (B, T, S)
        scores = self.v(torch.tanh(self.query(query)[:, :, None] + self.key(values)[:, None])).squeeze(-1)
        weights = torch.softmax(scores, dim=-1)
        return weights @ values, weights
