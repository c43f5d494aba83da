"""Trains the paper's network on a CUDA GPU with PyTorch and writes a Mien checkpoint.

The product trains with TensorFlow.js (`mien train`); this script is the same model, losses
and data pipeline for a machine with an NVIDIA GPU, where a run of minutes sees as many faces
as days on a laptop's CPU. Its output is a `.mien` model file that `mien eval` and the app load
as they load any other. See README.md beside it for what matches the TypeScript trainer and why.

Runs are bounded by wall-clock time, not steps: each phase is a share of `--seconds`.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from mien_torch import (
    Classifier,
    Critic,
    PaperNetwork,
    change_weights,
    decode_face,
    edit_mask,
    outside_mouth,
    product_edit,
    read_mien,
    worst_within,
    write_mien,
)

# ---- data ------------------------------------------------------------------------------------


def load_split(images: str, labels: str, split: str, size: int, column: str, with_labels: list[str]):
    """uint8 faces [n, size, size, 3], float labels (the column, or the mean of several: `--label-with`)
    and how many rows were skipped because their image is missing or unreadable."""
    columns = [column, *with_labels]
    with open(labels, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ["file", "split", *columns] if c not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit(f"{labels}: no column {', '.join(missing)}")
        rows = [r for r in reader if r["split"] == split]

    def face(row: dict) -> np.ndarray | None:
        try:
            return decode_face(os.path.join(images, row["file"]), size)
        except OSError:
            return None

    with ThreadPoolExecutor(16) as pool:
        decoded = list(pool.map(face, rows))
    kept = [i for i, f in enumerate(decoded) if f is not None]
    if not kept:
        raise SystemExit(f"{labels}: no readable image in split {split}")
    values = np.array([np.mean([float(rows[i][c]) for c in columns]) for i in kept], dtype=np.float32)
    return np.stack([decoded[i] for i in kept]), values, len(rows) - len(kept)


# ---- training --------------------------------------------------------------------------------


def to_images(faces: torch.Tensor) -> torch.Tensor:
    return faces.permute(0, 3, 1, 2).float() / 127.5 - 1


def augmented(faces: torch.Tensor, brightness: float) -> torch.Tensor:
    images = to_images(faces)
    flip = torch.rand(images.shape[0], device=images.device) < 0.5
    images = torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)
    shift = (torch.rand(images.shape[0], 1, 1, 1, device=images.device) * 2 - 1) * brightness
    return (images + shift).clamp(-1, 1)


def train_classifier(faces, labels, size, steps, robustness, device, log):
    """expression-classifier.ts train: Adam 1e-3, PGD within an L2 radius grown over the first half."""
    classifier = Classifier(size).to(device)
    optimiser = torch.optim.Adam(classifier.parameters(), 1e-3, betas=(0.9, 0.999))
    classes = (labels >= 0.5).long()
    for step in range(steps):
        index = torch.randint(0, faces.shape[0], (64,), device=device)
        images, target = augmented(faces[index], 0.1), classes[index]
        radius = robustness * min(1.0, (step + 1) / max(1, steps / 2))
        if radius > 0:
            images = worst_within(classifier, images, target, radius)
        loss = F.cross_entropy(classifier(images), target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if (step + 1) % 500 == 0:
            log(dict(classifier_step=step + 1, loss=round(loss.item(), 4)))
    for p in classifier.parameters():
        p.requires_grad_(False)
    return classifier.eval()


def ramp(progress: float, start: float, length: float) -> float:
    """0 before `start`, rising linearly to 1 over `length` (shares of the run)."""
    return 1.0 if length <= 0 else min(1.0, max(0.0, (progress - start) / length))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--size", type=int, default=64, choices=[64, 128, 256])
    p.add_argument("--attribute", default="smiling")
    p.add_argument("--label-with", default="", help="more columns averaged into the label, comma-separated")
    p.add_argument("--init", help="a .mien model to start from")
    p.add_argument("--seconds", type=float, required=True, help="wall-clock length of the training loop")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--mu", type=float, default=0.05)
    p.add_argument("--adversary-from", type=float, default=0.15, help="share of the run before mu starts to ramp")
    p.add_argument("--edit-from", type=float, default=0.35, help="share of the run before the edit losses start")
    p.add_argument("--ramp", type=float, default=0.1, help="share of the run over which each weight ramps up")
    p.add_argument("--expression", type=float, default=0.03)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--mouth-focus", type=float, default=1.0)
    p.add_argument("--realism", type=float, default=0.01)
    p.add_argument("--critic-on", choices=["residual", "drawing"], default="residual")
    p.add_argument("--critic-lr-factor", type=float, default=5.0)
    p.add_argument("--r1", type=float, default=0.0, help="weight (gamma) of the critic's R1 penalty on real faces")
    p.add_argument("--classifier-steps", type=int, default=2000)
    p.add_argument("--classifier-robustness", type=float, default=2.0)
    p.add_argument("--test-faces", type=int, default=512, help="held-out faces in the learning curve")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True, help="the .mien model to write")
    p.add_argument("--save-every", type=float, default=120, help="seconds between saves of the model so far")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run from its training state (OUT.state.pt, saved with the model), same settings",
    )
    p.add_argument(
        "--snapshots",
        default="",
        help="shares of the run at which to keep the model in a file of its own, e.g. 0.35 -> OUT-35.mien",
    )
    p.add_argument("--log", help="a JSON-lines learning curve to write")
    args = p.parse_args()
    # A negative weight would turn its loss around (a critic or a classifier to fool becomes one to obey).
    for name in ["mu", "expression", "mouth_focus", "realism", "r1"]:
        if getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be 0 or more, not {getattr(args, name)}")
    return args


class Run:
    """One training run: its faces, networks, optimisers, learning curve and files."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        torch.manual_seed(args.seed)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        self.stem = args.out.removesuffix(".mien")
        self.state_file = self.stem + ".state.pt"
        if args.resume and not os.path.exists(self.state_file):
            raise SystemExit(f"{self.state_file}: no training state to resume from")
        resumed = torch.load(self.state_file, map_location=self.device) if args.resume else None
        self.log_file = open(args.log, "a" if resumed else "w") if args.log else None
        self.load_faces()
        self.classifier = self.restore_classifier(resumed) if resumed else self.train_classifier()
        self.build_networks()
        self.outside = outside_mouth(args.size, self.device)
        self.mask = edit_mask(args.size, self.device)
        # Without them the run is the paper's method alone: the autoencoder and the latent discriminator.
        self.edit_losses = args.mouth_focus > 0 or args.expression > 0 or args.realism > 0
        self.snapshots = sorted(float(share) for share in args.snapshots.split(",") if share)
        self.step, self.elapsed_before = 0, 0.0
        if resumed:
            self.restore(resumed)

    def log(self, entry: dict) -> None:
        line = json.dumps(entry)
        print(line, file=sys.stderr, flush=True)
        if self.log_file:
            self.log_file.write(line + "\n")
            self.log_file.flush()

    def load_faces(self) -> None:
        args, device = self.args, self.device
        with_labels = [c for c in args.label_with.split(",") if c]
        started = time.time()
        train_faces, train_labels, skipped = load_split(
            args.images, args.labels, "train", args.size, args.attribute, with_labels
        )
        test_faces, test_labels, test_skipped = load_split(args.images, args.labels, "test", args.size, args.attribute, [])
        loaded = dict(loaded=len(train_faces), test=len(test_faces), skipped=skipped + test_skipped)
        self.log(dict(loaded, seconds=round(time.time() - started, 1)))
        self.faces = torch.from_numpy(train_faces).to(device)
        self.labels = torch.from_numpy(train_labels).to(device)
        self.test_images = to_images(torch.from_numpy(test_faces[: args.test_faces]).to(device))
        self.test_classes = torch.from_numpy((test_labels[: args.test_faces] >= 0.5).astype(np.int64)).to(device)

    def train_classifier(self) -> Classifier:
        args = self.args
        classifier = train_classifier(
            self.faces, self.labels, args.size, args.classifier_steps, args.classifier_robustness, self.device, self.log
        )
        with torch.no_grad():
            read = classifier(self.test_images).argmax(1) == self.test_classes
        self.log(dict(classifier_test_accuracy=round(read.float().mean().item(), 4)))
        return classifier

    def restore_classifier(self, resumed: dict) -> Classifier:
        classifier = Classifier(self.args.size).to(self.device)
        classifier.load_state_dict(resumed["classifier"])
        return classifier.requires_grad_(False).eval()

    def build_networks(self) -> None:
        args, betas = self.args, (0.5, 0.999)
        self.network = PaperNetwork(args.size).to(self.device)
        if args.init:
            header, tensors = read_mien(args.init)
            if header["config"]["size"] != args.size:
                raise SystemExit(f"{args.init}: a {header['config']['size']} px model, not {args.size} px")
            self.network.load_named(tensors)
        self.critic = Critic().to(self.device)
        self.ae_optimiser = torch.optim.Adam(self.network.autoencoder_parameters(), args.lr, betas=betas)
        self.dis_optimiser = torch.optim.Adam(self.network.discriminator.parameters(), args.lr, betas=betas)
        critic_lr = args.lr * args.critic_lr_factor
        self.critic_optimiser = torch.optim.Adam(self.critic.parameters(), critic_lr, betas=betas)

    def parts(self) -> dict:
        """What the training state holds besides the classifier, the step and the time spent."""
        names = ["network", "critic", "ae_optimiser", "dis_optimiser", "critic_optimiser"]
        return {name: getattr(self, name) for name in names}

    def restore(self, resumed: dict) -> None:
        for name, part in self.parts().items():
            part.load_state_dict(resumed[name])
        torch.set_rng_state(resumed["rng"].cpu())
        self.step, self.elapsed_before = resumed["step"], resumed["elapsed"]
        self.snapshots = [share for share in self.snapshots if share * self.args.seconds > self.elapsed_before]
        self.log(dict(resumed=self.step, seconds=round(self.elapsed_before, 1)))

    def save_state(self, elapsed: float) -> None:
        """Everything a resumed run needs, written atomically beside the model."""
        state = {name: part.state_dict() for name, part in self.parts().items()}
        state.update(classifier=self.classifier.state_dict(), step=self.step, elapsed=elapsed)
        state.update(rng=torch.get_rng_state())
        torch.save(state, self.state_file + ".part")
        os.replace(self.state_file + ".part", self.state_file)

    def save(self, final: dict, file: str | None = None) -> None:
        """The model file and its picture sheet."""
        args, device = self.args, self.device
        meta = dict(
            name=f"GPU run ({args.size} px)",
            trainingSteps=self.step,
            source="bench/reference/train_gpu.py",
            trainer=dict(vars(args), device=torch.cuda.get_device_name() if device.type == "cuda" else "cpu"),
            final=final,
        )
        write_mien(file or args.out, args.size, args.attribute, meta, self.network.named_tensors())
        sheet = (file or args.out).removesuffix(".mien") + ".png"
        write_sheet(sheet, self.network, self.test_images, self.test_classes, self.mask)

    def weights_at(self, progress: float) -> tuple[float, float]:
        """mu and the share of the edit losses at this point of the run (from --init: both from the start)."""
        args = self.args
        if args.init:
            return args.mu, ramp(progress, 0, args.ramp)
        return args.mu * ramp(progress, args.adversary_from, args.ramp), ramp(progress, args.edit_from, args.ramp)

    def train_step(self, mu: float, edit_share: float) -> dict:
        """One batch: the autoencoder, then the latent discriminator, then the critic; returns the losses."""
        args = self.args
        index = torch.randint(0, self.faces.shape[0], (args.batch,), device=self.device)
        images, y = augmented(self.faces[index], 0.1), self.labels[index]
        classes = (y >= 0.5).long()
        targets = 1 - classes.float()

        z = self.network.encode(images)
        decoded = self.network.decode(z, y)
        reconstruction = F.mse_loss(decoded, images)
        adversarial = F.cross_entropy(self.network.discriminate(z), 1 - classes)
        total = reconstruction + mu * adversarial
        terms, shown, weights = {}, None, None
        if edit_share > 0 and self.edit_losses:
            edited = self.network.decode(z, targets)
            if args.mouth_focus > 0:
                terms["focus"] = ((edited - decoded).abs() * self.outside).mean()
            if args.expression > 0:
                logits = self.classifier(product_edit(images, edited, decoded, self.mask)) / args.temperature
                terms["expression"] = F.cross_entropy(logits, targets.long())
            if args.realism > 0:
                residual = args.critic_on == "residual"
                shown = (images + edited - decoded).clamp(-1, 1) if residual else edited
                weights = change_weights(images, shown) if residual else None
                terms["realism"] = self.critic.realism_loss(shown, targets, weights)
            factors = dict(focus=args.mouth_focus, expression=args.expression, realism=args.realism)
            total = total + edit_share * sum(factors[name] * term for name, term in terms.items())
        self.ae_optimiser.zero_grad(set_to_none=True)
        total.backward()
        self.ae_optimiser.step()

        discriminator_loss = F.cross_entropy(self.network.discriminate(z.detach()), classes)
        self.dis_optimiser.zero_grad(set_to_none=True)
        discriminator_loss.backward()
        self.dis_optimiser.step()

        if shown is not None:
            terms["critic"] = self.critic.loss(images, y, shown.detach(), targets, weights)
            critic_loss = terms["critic"]
            if args.r1 > 0:
                terms["r1"] = self.critic.r1_penalty(images, y)
                critic_loss = critic_loss + args.r1 / 2 * terms["r1"]
            self.critic_optimiser.zero_grad(set_to_none=True)
            critic_loss.backward()
            self.critic_optimiser.step()
        return dict(reconstruction=reconstruction, adversarial=adversarial, **terms)

    def held_out(self) -> dict:
        return evaluate(self.network, self.classifier, self.test_images, self.test_classes, self.mask)

    def train(self) -> None:
        args = self.args
        loop_started = time.time() - self.elapsed_before
        last_log = last_save = self.elapsed_before
        while True:
            elapsed = time.time() - loop_started
            progress = elapsed / args.seconds
            if progress >= 1:
                break
            mu, edit_share = self.weights_at(progress)
            losses = self.train_step(mu, edit_share)
            self.step += 1
            so_far = dict(step=self.step, images=self.step * args.batch, seconds=round(elapsed, 1))
            if elapsed - last_log >= 15 or self.step == 1:
                last_log = elapsed
                entry = dict(step=self.step, seconds=round(elapsed, 1), mu=round(mu, 4), edit=round(edit_share, 3))
                entry.update({name: round(value.item(), 5) for name, value in losses.items()})
                self.log({**entry, **self.held_out()})
                if not math.isfinite(losses["reconstruction"].item()):
                    raise SystemExit("the reconstruction loss is not finite; stopping")
            if self.snapshots and progress >= self.snapshots[0]:
                share = self.snapshots.pop(0)
                self.save(so_far, f"{self.stem}-{round(share * 100)}.mien")
            if elapsed - last_save >= args.save_every:
                last_save = elapsed
                self.save({**so_far, "partial": True})
                self.save_state(elapsed)
        final = dict(step=self.step, images=self.step * args.batch, seconds=round(time.time() - loop_started, 1))
        final.update(self.held_out())
        self.log(dict(final=final))
        self.save(final)
        self.save_state(time.time() - loop_started)


def main() -> None:
    try:
        Run(parse_args()).train()
    except ValueError as error:  # a model file that cannot be read (read_mien)
        raise SystemExit(str(error)) from error


@torch.no_grad()
def write_sheet(path: str, network, images, classes, mask, per_label: int = 4) -> None:
    """Held-out faces, neutral then smiling, a row each: the face | the edit as the app adds it | the model's drawing.

    The figures of a run do not tell a smile from a smear: every model needs its pictures looked at.
    """
    picks = torch.cat([torch.nonzero(classes == c).flatten()[:per_label] for c in (0, 1)])
    faces, labels = images[picks], classes[picks].float()
    network.eval()
    z = network.encode(faces)
    decoded, drawn = network.decode(z, labels), network.decode(z, 1 - labels)
    network.train()
    rows = torch.cat([faces, product_edit(faces, drawn, decoded, mask), drawn], 3)  # [n, 3, size, 3 size]
    sheet = torch.cat(list(rows), 1)  # [3, n size, 3 size]
    pixels = ((sheet.permute(1, 2, 0).cpu().numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    scale = max(1, 128 // images.shape[2])
    image = image.resize((image.width * scale, image.height * scale), getattr(Image, "Resampling", Image).NEAREST)
    temporary = path + ".part"
    image.save(temporary, format="PNG")
    os.replace(temporary, path)


@torch.no_grad()
def evaluate(network, classifier, images, classes, mask) -> dict:
    """Held-out figures for the learning curve: reconstruction, and the classifier's reading of the product's edits."""
    network.eval()
    z = network.encode(images)
    labels = classes.float()
    decoded = network.decode(z, labels)
    edited = network.decode(z, 1 - labels)
    flipped = classifier(product_edit(images, edited, decoded, mask)).argmax(1) != classes
    drawing_flipped = classifier(edited).argmax(1) != classes
    network.train()
    mse = F.mse_loss(decoded, images).item()
    return dict(
        test_psnr=round(10 * math.log10(4 / mse), 2),
        test_added=round(flipped[classes == 0].float().mean().item(), 3),
        test_removed=round(flipped[classes == 1].float().mean().item(), 3),
        drawing_removed=round(drawing_flipped[classes == 1].float().mean().item(), 3),
    )


if __name__ == "__main__":
    main()
