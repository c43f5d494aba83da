"""Long runs of the edit losses on a GPU, to see where each recipe goes after thousands of steps.

Our trainer takes about a second a step with the realism critic on two CPU cores, so its runs of these
losses stop after 300-1,800 steps. This script continues the shipped model (`--init` in our trainer) with
the same losses, rendered in PyTorch as our trainer computes them (src-main/core/training/gradients.ts,
realism-critic.ts), for tens of thousands of steps:

- the latent discriminator's adversarial term, weight mu;
- the expression loss: a frozen classifier (train_reference.py prep) asked to read the flipped label on the
  face decoded with it, logits divided by a temperature;
- the realism loss: a projection patch critic, learning alongside at `critic_lr` times the step's rate,
  judging the app's edit (the face plus the change between the two decodes), each patch weighted by how
  much the edit changed it, with real faces shown the flipped label counted as not real;
- the mouth-box penalty: the mean absolute change between the two decodes outside a box around the mouth
  (rows 60-90%, columns 28-72% of the crop), so that the edit stays on the mouth.

  python3 train_reference.py prep            once: faces, classifier, judge (in /tmp/study)
  python3 edit_study.py NAME                 one configuration of STUDIES for BUDGET seconds
  python3 edit_study.py sheet NAME...        the runs' picture strips side by side, in OUT/sheet.png

Each run logs proxy metrics (train_reference.py's judge) every EVAL_EVERY steps to OUT/metrics.jsonl, keeps
a strip of 8 test faces edited at each of them, and writes its final model as OUT/NAME.mien, which
`mien eval` and `mien grid` read. Environment as train_reference.py's, and INIT (the model file continued;
default: the shipped model).
"""
import json, os, sys, time
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import train_reference as ref
from mien_torch import Critic, change_weights, outside_mouth, read_mien, worst_within
from train_reference import DEV, OUT, WORK, Paper, batch_of, evaluate, load_faces, log, write_mien

HERE = os.path.dirname(os.path.abspath(__file__))
INIT = os.environ.get('INIT', os.path.join(HERE, '..', '..', 'resources', 'models', 'default.mien'))
EVAL_EVERY = int(os.environ.get('EVAL_EVERY', '2500'))

# Each study continues the shipped model. mu: adversarial weight; expr: expression loss weight (temperature
# 4); realism: the critic's weight in the autoencoder's loss; critic_lr: its learning-rate factor; box: the
# mouth-box penalty's weight.
STUDIES = {
    'q': dict(mu=0.05, expr=0.05, realism=0.03, critic_lr=5, box=0),
    'boxq': dict(mu=0.2, expr=0.05, realism=0.03, critic_lr=5, box=1),
    'boxq-e2': dict(mu=0.2, expr=0.2, realism=0.03, critic_lr=5, box=1),
    'boxq-e5': dict(mu=0.2, expr=0.5, realism=0.05, critic_lr=5, box=1),
    'boxq-e1': dict(mu=0.2, expr=0.1, realism=0.01, critic_lr=5, box=1),
    'q-e2': dict(mu=0.2, expr=0.2, realism=0.02, critic_lr=5, box=0),
    # A robust classifier (adversarially trained, `robust EPS`) in place of the plain one, no critic.
    'r4': dict(mu=0.05, expr=0.1, realism=0, critic_lr=5, box=0, robust=4, temperature=1),
    'r8': dict(mu=0.05, expr=0.1, realism=0, critic_lr=5, box=0, robust=8, temperature=1),
    'r4-box': dict(mu=0.2, expr=0.1, realism=0, critic_lr=5, box=1, robust=4, temperature=1),
    'r4-e3': dict(mu=0.05, expr=0.3, realism=0, critic_lr=5, box=0, robust=4, temperature=1),
}


@torch.no_grad()
def strip(model, faces, labels):
    """One row of edited faces (flipped labels, as the app edits), uint8 HWC."""
    model.eval()
    z = model.encode(faces)
    edited = (faces + model.decode(z, 1 - labels) - model.decode(z, labels)).clamp(-1, 1)
    model.train()
    row = torch.cat(list(edited), 2)  # 3 x H x (W * n)
    return ((row.permute(1, 2, 0).cpu().numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)


def study(name, budget):
    cfg = STUDIES[name]
    torch.manual_seed(1)
    train_set, test_set = load_faces()
    model = Paper().to(DEV)
    model.load_named(read_mien(INIT)[1])
    judge = torch.load(os.path.join(WORK, 'judge.pt'), weights_only=False).eval()
    classifier_file = f"cls-robust-{cfg['robust']}.pt" if cfg.get('robust') else 'cls.pt'
    classifier = torch.load(os.path.join(WORK, classifier_file), weights_only=False).eval()
    temperature = cfg.get('temperature', 4)
    for p in classifier.parameters():
        p.requires_grad_(False)
    critic = Critic().to(DEV) if cfg['realism'] > 0 else None
    opt_ae = torch.optim.Adam(model.ae_params(), 2e-4, betas=(0.5, 0.999))
    opt_dis = torch.optim.Adam(model.dis_params(), 2e-4, betas=(0.5, 0.999))
    opt_critic = critic and torch.optim.Adam(critic.parameters(), 2e-4 * cfg['critic_lr'], betas=(0.5, 0.999))
    mask = outside_mouth(ref.SIZE, DEV)
    gen = torch.Generator(device=DEV).manual_seed(7)
    # The same 8 test faces in every strip: 4 neutral, then 4 smiling.
    tx, ty = test_set
    pick = torch.cat([torch.nonzero(ty == 0)[:4, 0], torch.nonzero(ty == 1)[:4, 0]])
    strip_faces, strip_labels = tx[pick], ty[pick]
    rows = [((torch.cat(list(strip_faces), 2).permute(1, 2, 0).cpu().numpy() + 1) * 127.5).round().astype(np.uint8),
            strip(model, strip_faces, strip_labels)]
    entry = dict(run=name, step=0)
    entry.update(evaluate(model, judge, test_set))
    log(entry)
    start = time.time()
    step = 0
    sums = {}

    def add(key, value):
        sums[key] = sums.get(key, 0.0) + value.item()

    while time.time() - start < budget:
        x, y = batch_of(train_set, 32, gen)
        classes = (y >= 0.5).long()
        flipped = 1 - classes
        targets = flipped.float()
        z = model.encode(x)
        decoded = model.decode(z, y)
        rec = F.mse_loss(decoded, x)
        loss = rec + cfg['mu'] * F.cross_entropy(model.discriminate(z), flipped)
        edited = model.decode(z, targets)
        expr = F.cross_entropy(classifier(edited) / temperature, flipped)
        loss = loss + cfg['expr'] * expr
        if cfg['box'] > 0:
            loss = loss + cfg['box'] * ((edited - decoded).abs() * mask).mean()
        if critic is not None:
            edit = (x + edited - decoded).clamp(-1, 1)
            weights = change_weights(x, edit)
            realism = critic.realism_loss(edit, targets, weights)
            loss = loss + cfg['realism'] * realism
        opt_ae.zero_grad(set_to_none=True)
        loss.backward()
        logits = model.discriminate(z.detach())
        dis_loss = F.cross_entropy(logits, classes)
        opt_dis.zero_grad(set_to_none=True)
        dis_loss.backward()
        opt_dis.step()
        if critic is not None:
            opt_critic.zero_grad(set_to_none=True)
            critic_loss = critic.loss(x, y, edit.detach(), targets, weights)
            critic_loss.backward()
            opt_critic.step()
        opt_ae.step()
        step += 1
        if step % 50 == 0:
            add('rec', rec)
            add('expr', expr)
            add('acc', (logits.argmax(1) == classes).float().mean())
            if critic is not None:
                add('realism', realism)
                add('critic', critic_loss)
        if step % EVAL_EVERY == 0:
            entry = dict(run=name, step=step, loss={k: round(v / (EVAL_EVERY // 50), 4) for k, v in sums.items()},
                         secs=round(time.time() - start, 1))
            sums = {}
            entry.update(evaluate(model, judge, test_set))
            log(entry)
            rows.append(strip(model, strip_faces, strip_labels))
    entry = dict(run=name, step=step, final=True, secs=round(time.time() - start, 1))
    entry.update(evaluate(model, judge, test_set))
    log(entry)
    rows.append(strip(model, strip_faces, strip_labels))
    np.save(os.path.join(WORK, f'strip-{name}.npy'), np.concatenate(rows, 0))
    write_mien(os.path.join(OUT, f'{name}.mien'), model,
               dict(study=name, steps=step, config=cfg, init=os.path.basename(INIT), trainedWith='PyTorch reference'))


def robust(eps, steps=1500):
    """A smile classifier trained on adversarial examples (Madry et al.): its gradients follow features a
    person would read as a smile, where a plain classifier's follow patterns only it reads."""
    train_set, test_set = load_faces()
    torch.manual_seed(3)
    net = ref.classifier(32, 0.0)

    def worst_as_frozen(net, x, y):
        net.eval()  # batch norm as when frozen, while searching
        moved = worst_within(net, x, y, eps)
        net.train()
        return moved

    acc = ref.train_classifier(net, train_set, test_set, steps, 11, worst_as_frozen)
    torch.save(net, os.path.join(WORK, f'cls-robust-{eps:g}.pt'))
    log(dict(robust=eps, testAcc=round(acc, 4)))


def sheet(names):
    """The runs' strips side by side (a grey gap between runs), each starting at its original faces."""
    strips = [np.load(os.path.join(WORK, f'strip-{n}.npy')) for n in names]
    height = max(s.shape[0] for s in strips)
    padded = [np.pad(s, ((0, height - s.shape[0]), (0, 8), (0, 0)), constant_values=128) for s in strips]
    Image.fromarray(np.concatenate(padded, 1)).save(os.path.join(OUT, 'sheet.png'))


if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    if sys.argv[1] == 'sheet':
        sheet(sys.argv[2:])
    elif sys.argv[1] == 'robust':
        robust(float(sys.argv[2]), int(os.environ.get('ROBUST_STEPS', '1500')))
    else:
        study(sys.argv[1], float(os.environ.get('BUDGET', '360')))
