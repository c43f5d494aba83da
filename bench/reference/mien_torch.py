"""The paper's network, the product's edit and Mien model files in PyTorch: what every script here shares.

Each piece renders its TypeScript counterpart (named in its docstring) exactly, weights in TensorFlow.js'
layout, so that a model trained here is the model the app loads. test/core/gpu-trainer.test.ts holds the
network and the file format to src-main/core/model/network.ts and checkpoint.ts.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from datetime import datetime, timezone

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

LEAKY = 0.2
MOUTH_BOX = (0.6, 0.9, 0.28, 0.72)  # top, bottom, left, right (gradients.ts mouthBox)
EDIT_MASK = dict(cx=0.5, cy=0.6, rx=0.34, ry=0.38, feather=0.35)  # residual-edit.ts editMask
LUMA = (0.299, 0.587, 0.114)
COLOUR_SHARE = 0.3
CLASSIFIER_MAX_SIZE = 64


# ---- data -------------------------------------------------------------------------------


def celeba_crop(width: int, height: int) -> tuple[int, int, int, int]:
    """The centred square crop of dataset.ts (celebaCrop), as PIL's box."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def decode_face(path: str, size: int) -> np.ndarray:
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        lanczos = getattr(Image, "Resampling", Image).LANCZOS
        face = rgb.crop(celeba_crop(*rgb.size)).resize((size, size), lanczos)
        return np.asarray(face, dtype=np.uint8)


# ---- the paper's network (network.ts, presets.ts) --------------------------------------------


def same_pad_conv(x: torch.Tensor, conv: torch.nn.Conv2d, stride: int) -> torch.Tensor:
    """TensorFlow's 'same' padding for a 4x4 filter: stride 2 pads 1 on each side, stride 1 pads 1 before, 2 after."""
    return conv(F.pad(x, (1, 1, 1, 1) if stride == 2 else (1, 2, 1, 2)))


class PaperNetwork(torch.nn.Module):
    def __init__(self, size: int):
        super().__init__()
        layers = int(math.log2(size)) - 1
        self.encoder_channels = [512 // 2 ** (layers - 1 - i) for i in range(layers)]
        self.decoder_channels = [*reversed(self.encoder_channels[:-1]), 3]
        channels = 3
        self.encoder = torch.nn.ModuleList()
        for out in self.encoder_channels:
            self.encoder.append(torch.nn.Conv2d(channels, out, 4, stride=2))
            channels = out
        self.decoder = torch.nn.ModuleList()
        for out in self.decoder_channels:
            self.decoder.append(torch.nn.Conv2d(channels + 1, out, 4, stride=1))
            channels = out
        self.discriminator = torch.nn.ModuleList(
            [torch.nn.Linear(2 * 2 * 512, 512), torch.nn.Linear(512, 512), torch.nn.Linear(512, 2)]
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.encoder:
            x = F.leaky_relu(same_pad_conv(x, conv, 2), LEAKY)
        return x

    def decode(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = z
        for i, conv in enumerate(self.decoder):
            plane = labels.view(-1, 1, 1, 1).expand(-1, 1, h.shape[2], h.shape[3])
            h = F.interpolate(torch.cat([h, plane], 1), scale_factor=2, mode="nearest")
            h = same_pad_conv(h, conv, 1)
            h = torch.relu(h) if i < len(self.decoder) - 1 else torch.tanh(h)
        return h

    def discriminate(self, z: torch.Tensor) -> torch.Tensor:
        # TensorFlow.js flattens z as [n, h, w, c]: the same order here keeps the weights interchangeable.
        h = z.permute(0, 2, 3, 1).reshape(z.shape[0], -1)
        for i, dense in enumerate(self.discriminator):
            h = dense(h)
            if i < len(self.discriminator) - 1:
                h = F.leaky_relu(h, LEAKY)
        return h

    def named_tensors(self):
        """Every weight under the name and layout of network.ts (filters [kh, kw, in, out], dense [in, out])."""
        out = []
        for part, layers in (("encoder", self.encoder), ("decoder", self.decoder)):
            for i, conv in enumerate(layers):
                out.append((f"{part}.{i}.filter", conv.weight.permute(2, 3, 1, 0)))
                out.append((f"{part}.{i}.bias", conv.bias))
        for i, dense in enumerate(self.discriminator):
            out.append((f"discriminator.dense{i}.weights", dense.weight.t()))
            out.append((f"discriminator.dense{i}.bias", dense.bias))
        return out

    def load_named(self, tensors: dict[str, np.ndarray]) -> None:
        with torch.no_grad():
            for part, layers in (("encoder", self.encoder), ("decoder", self.decoder)):
                for i, conv in enumerate(layers):
                    conv.weight.copy_(torch.from_numpy(tensors[f"{part}.{i}.filter"]).permute(3, 2, 0, 1))
                    conv.bias.copy_(torch.from_numpy(tensors[f"{part}.{i}.bias"]))
            for i, dense in enumerate(self.discriminator):
                dense.weight.copy_(torch.from_numpy(tensors[f"discriminator.dense{i}.weights"]).t())
                dense.bias.copy_(torch.from_numpy(tensors[f"discriminator.dense{i}.bias"]))

    def autoencoder_parameters(self):
        return [*self.encoder.parameters(), *self.decoder.parameters()]


def box_downsample(x: torch.Tensor, size: int) -> torch.Tensor:
    factor = max(1, x.shape[2] // size)
    return x if factor == 1 else F.avg_pool2d(x, factor)


class Classifier(torch.nn.Module):
    """expression-classifier.ts: four stride-2 4x4 convolutions and a dense layer, at most 64 px."""

    def __init__(self, size: int):
        super().__init__()
        widths, channels = [32, 64, 128, 256], 3
        self.convs = torch.nn.ModuleList()
        for out in widths:
            self.convs.append(torch.nn.Conv2d(channels, out, 4, stride=2))
            channels = out
        side = min(size, CLASSIFIER_MAX_SIZE) // 16
        self.dense = torch.nn.Linear(side * side * channels, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = box_downsample(x, CLASSIFIER_MAX_SIZE)
        for conv in self.convs:
            h = F.leaky_relu(same_pad_conv(h, conv, 2), LEAKY)
        return self.dense(h.flatten(1))


class Critic(torch.nn.Module):
    """realism-critic.ts: a patch discriminator conditioned on the label by projection."""

    def __init__(self):
        super().__init__()
        widths, channels = [32, 64, 128], 3
        self.convs = torch.nn.ModuleList()
        for out in widths:
            self.convs.append(torch.nn.Conv2d(channels, out, 4, stride=2))
            channels = out
        self.patch = torch.nn.Conv2d(channels, 1, 3, padding=1)
        self.projection = torch.nn.Conv2d(channels, 1, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = x
        for conv in self.convs:
            h = F.leaky_relu(same_pad_conv(h, conv, 2), LEAKY)
        direction = (labels * 2 - 1).view(-1, 1, 1, 1)
        return self.patch(h) + self.projection(h) * direction

    def loss(self, real, labels, edited, targets, weights=None) -> torch.Tensor:
        """Real faces with their labels read as real; edits, and real faces with the flipped label, as not."""
        not_real = bce(self(edited, targets), 0.0, weights) + bce(self(real, 1 - labels), 0.0, weights)
        return bce(self(real, labels), 1.0, weights) + 0.5 * not_real

    def r1_penalty(self, real: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """R1 (Mescheder, Geiger and Nowozin, 2018): per face, the squared norm of the gradient of its
        patch logits (summed) with respect to the real face, averaged over the batch. It keeps the critic
        flat where real faces lie, so that it cannot reward the high-frequency textures an unregularised
        critic can teach its generator (g128-draw's mottled drawings may be such textures)."""
        real = real.detach().requires_grad_(True)
        (gradient,) = torch.autograd.grad(self(real, labels).sum(), real, create_graph=True)
        return gradient.pow(2).flatten(1).sum(1).mean()

    def realism_loss(self, edited, targets, weights=None) -> torch.Tensor:
        """The non-saturating GAN loss of the edits: low when the critic reads them as real faces of `targets`."""
        return bce(self(edited, targets), 1.0, weights)


def worst_within(classifier, images, target, radius, attack_steps=5):
    """expression-classifier.ts worstWithin: each image moved, within an L2 `radius`, to where the
    classifier reads its target worst (projected gradient ascent in normalised steps)."""
    offset = torch.zeros_like(images)
    step_size = 2.5 * radius / attack_steps
    norms = lambda t: t.flatten(1).norm(dim=1).clamp_min(1e-6).view(-1, 1, 1, 1)
    for _ in range(attack_steps):
        offset.requires_grad_(True)
        (gradient,) = torch.autograd.grad(F.cross_entropy(classifier(images + offset), target), offset)
        moved = offset.detach() + gradient * (step_size / norms(gradient))
        offset = moved * torch.clamp(radius / norms(moved), max=1.0)
    return (images + offset).detach()


# ---- maps and the product's edit -------------------------------------------------------------


def pixel_map(size: int, weight_at, device) -> torch.Tensor:
    centres = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    v, u = torch.meshgrid(centres, centres, indexing="ij")
    return weight_at(u, v).view(1, 1, size, size).to(device)


def outside_mouth(size: int, device) -> torch.Tensor:
    top, bottom, left, right = MOUTH_BOX
    rows = torch.arange(size, dtype=torch.float32)
    inside_y = (rows >= top * size) & (rows < bottom * size)
    inside_x = (rows >= left * size) & (rows < right * size)
    inside = inside_y.view(-1, 1) & inside_x.view(1, -1)
    return (~inside).float().view(1, 1, size, size).to(device)


def edit_mask(size: int, device) -> torch.Tensor:
    m = EDIT_MASK

    def weight(u, v):
        r = torch.sqrt(((u - m["cx"]) / m["rx"]) ** 2 + ((v - m["cy"]) / m["ry"]) ** 2)
        t = ((1 - r) / m["feather"]).clamp(0, 1)
        return torch.where(r <= 1 - m["feather"], torch.ones_like(r), t * t * (3 - 2 * t)) * (r < 1)

    return pixel_map(size, weight, device)


def product_edit(images, edited, decoded, mask):
    """gradients.ts productEdit: the change's colour limited, feathered by the mask, added to the face."""
    change = edited - decoded
    luma = (change * torch.tensor(LUMA, device=images.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    limited = luma + (change - luma) * COLOUR_SHARE
    return (images + limited * mask).clamp(-1, 1)


def change_weights(real: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
    """realism-critic.ts changeWeights: how much each 8x8 patch changed, each face's mean 1, no gradient."""
    with torch.no_grad():
        per_patch = F.avg_pool2d((edited - real).abs(), 8).mean(1, keepdim=True)
        return per_patch / (per_patch.mean((1, 2, 3), keepdim=True) + 1e-6)


def bce(logits: torch.Tensor, target: float, weights: torch.Tensor | None) -> torch.Tensor:
    each = F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction="none")
    return (each * weights).mean() if weights is not None else each.mean()


# ---- checkpoints (checkpoint.ts) --------------------------------------------------------------


def read_mien(path: str) -> tuple[dict, dict[str, np.ndarray]]:
    """checkpoint.ts parseCheckpoint: the header and every tensor as float32, the payload's hash checked."""
    data = open(path, "rb").read()
    if data[:8] != b"MIENCKPT":
        raise ValueError(f"{path}: not a Mien checkpoint")
    (length,) = struct.unpack("<I", data[8:12])
    if len(data) < 12 + length:
        raise ValueError(f"{path}: the file is truncated")
    header = json.loads(data[12 : 12 + length])
    payload = data[12 + length :]
    if hashlib.sha256(payload).hexdigest() != header["payloadSha256"]:
        raise ValueError(f"{path}: weights are corrupted (checksum mismatch)")
    tensors = {}
    for t in header["tensors"]:
        raw = payload[t["offset"] : t["offset"] + t["byteLength"]]
        dtype = np.float16 if t["dtype"] == "float16" else np.float32
        tensors[t["name"]] = np.frombuffer(raw, dtype=dtype).astype(np.float32).reshape(t["shape"])
    return header, tensors


def write_mien(path: str, size: int, attribute: str, meta: dict, tensors, half: bool = True, preset: str = "paper") -> None:
    """checkpoint.ts writeCheckpoint: a model file of `tensors` (name, tensor) pairs, written atomically."""
    entries, chunks, offset = [], [], 0
    for name, value in tensors:
        array = value.detach().float().cpu().contiguous().numpy()
        raw = array.astype(np.float16 if half else np.float32).tobytes()
        dtype = "float16" if half else "float32"
        entries.append(dict(name=name, shape=list(array.shape), dtype=dtype, offset=offset, byteLength=len(raw)))
        chunks.append(raw)
        offset += len(raw)
    payload = b"".join(chunks)
    header = dict(
        format=1,
        kind="model",
        config=dict(preset=preset, size=size, attribute=attribute),
        createdAt=datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        meta=meta,
        tensors=entries,
        payloadSha256=hashlib.sha256(payload).hexdigest(),
    )
    header_bytes = json.dumps(header).encode()
    temporary = path + ".part"
    with open(temporary, "wb") as f:
        f.write(b"MIENCKPT" + struct.pack("<I", len(header_bytes)) + header_bytes + payload)
    os.replace(temporary, path)
