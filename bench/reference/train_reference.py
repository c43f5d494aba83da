"""A PyTorch rendering of the two presets, to cross-check our trainer and to compare them fast on a GPU.

The networks have exactly the layouts of src-main/core/model/network.ts, and the model files this script
writes are Mien model files (float16) that `mien eval`, `mien grid` and the app read.

  python3 train_reference.py prep        decode the faces (CelebA crop, 64 px); train a frozen smile
                                         classifier (for the expression loss) and an independent judge
                                         (for quick proxy metrics while training)
  python3 train_reference.py train NAME  train one configuration (CONFIGS) for BUDGET seconds of wall
                                         clock; proxy metrics every 2,500 steps; a model file at step 6,641
                                         (FINALS not naming it) or at the end (FINALS naming it)

Environment: FACES (folder with images/ and labels.csv; default ./faces), OUT (where model files and
metrics.jsonl go), BUDGET (seconds, default 360), FINALS (configurations saved at the end; default ab).
Needs torch and pillow, and a CUDA device.
"""
import csv, json, math, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import mien_torch
from mien_torch import PaperNetwork

FACES = os.environ.get('FACES', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'faces'))
WORK = '/tmp/study'
OUT = os.environ.get('OUT', '/tmp/out')
DEV = os.environ.get('DEVICE', 'cuda')
SIZE = 64
SNAP_STEP = 6641
torch.backends.cudnn.benchmark = True
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True


def log(obj):
    obj['t'] = round(time.time() - T0, 1)
    line = json.dumps(obj)
    print(line, flush=True)
    with open(os.path.join(OUT, 'metrics.jsonl'), 'a') as f:
        f.write(line + '\n')


# ---- data ------------------------------------------------------------------------------

def prepare_faces():
    rows = list(csv.DictReader(open(os.path.join(FACES, 'labels.csv'))))
    imgs = np.zeros((len(rows), SIZE, SIZE, 3), np.uint8)
    for i, r in enumerate(rows):
        imgs[i] = mien_torch.decode_face(os.path.join(FACES, 'images', r['file']), SIZE)
    labels = np.array([float(r['smiling']) for r in rows], np.float32)
    train = np.array([r['split'] == 'train' for r in rows])
    np.savez(os.path.join(WORK, 'faces.npz'), imgs=imgs, labels=labels, train=train)


def load_faces():
    d = np.load(os.path.join(WORK, 'faces.npz'))
    x = torch.tensor(d['imgs']).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    y = torch.tensor(d['labels'])
    train = torch.tensor(d['train'])
    return (x[train].to(DEV), y[train].to(DEV)), (x[~train].to(DEV), y[~train].to(DEV))


def batch_of(data, n, gen, brightness=0.1):
    x, y = data
    idx = torch.randint(0, x.shape[0], (n,), device=DEV, generator=gen)
    xb, yb = x[idx], y[idx]
    flip = torch.rand(n, device=DEV, generator=gen) < 0.5
    xb = torch.where(flip.view(n, 1, 1, 1), xb.flip(3), xb)
    shift = (torch.rand(n, device=DEV, generator=gen) * 2 - 1) * brightness
    return xb + shift.view(n, 1, 1, 1), yb


# ---- networks (layouts match src-main/core/model/network.ts) ----------------------------

class Paper(PaperNetwork):
    """mien_torch's network at SIZE, under the names the scripts here use."""

    preset = 'paper'

    def __init__(self):
        super().__init__(SIZE)

    def export(self):
        return self.named_tensors()

    def dis_params(self):
        return list(self.discriminator.parameters())

    def ae_params(self):
        return self.autoencoder_parameters()


def bn_export(name, bn):
    return [(f'{name}.gamma', bn.weight), (f'{name}.beta', bn.bias), (f'{name}.movingMean', bn.running_mean),
            (f'{name}.movingVariance', bn.running_var)]


class Fader(nn.Module):
    preset = 'fader'

    def __init__(self):
        super().__init__()
        layers = int(math.log2(SIZE)) - 2
        enc = [min(32 * 2 ** i, 512) for i in range(layers)]
        dec = enc[:-1][::-1] + [3]
        self.enc = nn.ModuleList()
        self.enc_bn = nn.ModuleList()
        c = 3
        for i, o in enumerate(enc):
            self.enc.append(nn.Conv2d(c, o, 4, 2, 1))
            self.enc_bn.append(nn.BatchNorm2d(o) if i > 0 else nn.Identity())
            c = o
        self.dec = nn.ModuleList()
        self.dec_bn = nn.ModuleList()
        for i, o in enumerate(dec):
            self.dec.append(nn.ConvTranspose2d(c + 2, o, 4, 2, 1))
            self.dec_bn.append(nn.BatchNorm2d(o) if i < len(dec) - 1 else nn.Identity())
            c = o
        self.dis_conv = nn.ModuleList([nn.Conv2d(enc[-1], 512, 4, 2, 1), nn.Conv2d(512, 512, 4, 2, 1)])
        self.dis_bn = nn.ModuleList([nn.BatchNorm2d(512), nn.BatchNorm2d(512)])
        self.dis = nn.Sequential(nn.Linear(512, 512), nn.LeakyReLU(0.2), nn.Linear(512, 2))

    def encode(self, x):
        for conv, bn in zip(self.enc, self.enc_bn):
            x = F.leaky_relu(bn(conv(x)), 0.2)
        return x

    def decode(self, z, y):
        h = z
        for i, (conv, bn) in enumerate(zip(self.dec, self.dec_bn)):
            n, _, H, W = h.shape
            planes = torch.stack([1 - y, y], 1).view(n, 2, 1, 1).expand(n, 2, H, W)
            h = bn(conv(torch.cat([h, planes], 1)))
            h = torch.relu(h) if i < len(self.dec) - 1 else torch.tanh(h)
        return h

    def discriminate(self, z):
        h = z
        for conv, bn in zip(self.dis_conv, self.dis_bn):
            h = F.leaky_relu(bn(conv(h)), 0.2)
        return self.dis(h.reshape(z.shape[0], -1))

    def dis_params(self):
        return list(self.dis_conv.parameters()) + list(self.dis_bn.parameters()) + list(self.dis.parameters())

    def ae_params(self):
        return [p for m in [self.enc, self.enc_bn, self.dec, self.dec_bn] for p in m.parameters()]

    def set_dis_mode(self, training):
        for m in [self.dis_conv, self.dis_bn, self.dis]:
            m.train(training)

    def export(self):
        t = []
        for i, (l, bn) in enumerate(zip(self.enc, self.enc_bn)):
            t += [(f'encoder.{i}.filter', l.weight.permute(2, 3, 1, 0)), (f'encoder.{i}.bias', l.bias)]
            if i > 0:
                t += bn_export(f'encoder.{i}.bn', bn)
        for i, (l, bn) in enumerate(zip(self.dec, self.dec_bn)):
            t += [(f'decoder.{i}.filter', l.weight.permute(2, 3, 1, 0)), (f'decoder.{i}.bias', l.bias)]
            if i < len(self.dec) - 1:
                t += bn_export(f'decoder.{i}.bn', bn)
        for i, (l, bn) in enumerate(zip(self.dis_conv, self.dis_bn)):
            t += [(f'discriminator.conv{i}.filter', l.weight.permute(2, 3, 1, 0)), (f'discriminator.conv{i}.bias', l.bias)]
            t += bn_export(f'discriminator.conv{i}.bn', bn)
        for j, k in enumerate([0, 2]):
            l = self.dis[k]
            t += [(f'discriminator.dense{j}.weights', l.weight.t()), (f'discriminator.dense{j}.bias', l.bias)]
        return t


def write_mien(path, model, meta):
    mien_torch.write_mien(path, SIZE, 'smiling', meta, model.export(), preset=model.preset)


# ---- classifiers -----------------------------------------------------------------------

def classifier(width, dropout):
    layers, c = [], 3
    for i, o in enumerate([width, width * 2, width * 4, width * 8]):
        layers += [nn.Conv2d(c, o, 4, 2, 1), nn.BatchNorm2d(o), nn.LeakyReLU(0.2)]
        c = o
    layers += [nn.Flatten(), nn.Dropout(dropout), nn.Linear(c * 16, 2)]
    return nn.Sequential(*layers).to(DEV)


def train_classifier(net, train, test, steps, seed, perturb=None):
    """Adam on batches of 128; `perturb(net, x, y)`, if given, replaces each batch before the step."""
    gen = torch.Generator(device=DEV).manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for s in range(steps):
        x, y = batch_of(train, 128, gen)
        y = y.long()
        if perturb is not None:
            x = perturb(net, x, y)
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        acc = (net(test[0]).argmax(1) == test[1].long()).float().mean().item()
    return acc


# ---- evaluation ------------------------------------------------------------------------

@torch.no_grad()
def evaluate(model, judge, test):
    model.eval()
    x, y = test
    out = {}
    recs, zs = [], []
    for i in range(0, x.shape[0], 256):
        zs.append(model.encode(x[i:i + 256]))
    z = torch.cat(zs)
    rec = torch.cat([model.decode(z[i:i + 256], y[i:i + 256]) for i in range(0, x.shape[0], 256)])
    mse = ((rec - x) ** 2).mean(dim=(1, 2, 3))
    out['psnr'] = (10 * torch.log10(4 / mse)).mean().item()
    out['disAcc'] = (model.discriminate(z).argmax(1) == y.long()).float().mean().item()
    for name, src, target in [('on', 0, 1.0), ('on15', 0, 1.5), ('off', 1, 0.0), ('off05', 1, -0.5)]:
        sel = y == src
        t = torch.full((int(sel.sum()),), target, device=DEV)
        edited = (x[sel] + model.decode(z[sel], t) - rec[sel]).clamp(-1, 1)
        pred = judge(edited).argmax(1)
        out[name] = (pred == (1 if target > 0.5 else 0)).float().mean().item()
        if name in ('on', 'off'):
            out[name + 'Mouth'] = (model.decode(z[sel], t) - rec[sel]).abs()[:, :, 38:54, 20:44].mean().item() * 127.5
    model.train()
    return {k: round(v, 4) for k, v in out.items()}


# ---- training --------------------------------------------------------------------------

CONFIGS = {
    'a': dict(net='paper', cls=0.0),
    'b': dict(net='fader', cls=0.0),
    'c': dict(net='paper', cls=0.01),
    'd': dict(net='paper', cls=0.05),
}


FINALS = os.environ.get('FINALS', 'ab')


def mu_at(step):
    """The schedule of the shipped model: 1500 steps mu 0, ramps to 1e-3, 1e-2, then 5e-2 (500-step ramps)."""
    def ramp(start, a, b):
        return a + (b - a) * min(1.0, (step - start + 1) / 500)
    if step < 1500:
        return 0.0
    if step < 2500:
        return ramp(1500, 0, 1e-3)
    if step < 3990:
        return ramp(2500, 1e-3, 1e-2)
    return ramp(3990, 1e-2, 5e-2)


def train(name, budget):
    cfg = CONFIGS[name]
    torch.manual_seed(1)
    train_set, test_set = load_faces()
    model = (Paper() if cfg['net'] == 'paper' else Fader()).to(DEV)
    judge = torch.load(os.path.join(WORK, 'judge.pt'), weights_only=False).eval()
    cls_net = None
    if cfg['cls'] > 0:
        cls_net = torch.load(os.path.join(WORK, 'cls.pt'), weights_only=False).eval()
        for p in cls_net.parameters():
            p.requires_grad_(False)
    opt_ae = torch.optim.Adam(model.ae_params(), 2e-4, betas=(0.5, 0.999))
    opt_dis = torch.optim.Adam(model.dis_params(), 2e-4, betas=(0.5, 0.999))
    gen = torch.Generator(device=DEV).manual_seed(7)
    # Every code path once before the clock starts: evaluation and writing a model file.
    evaluate(model, judge, (test_set[0][:64], test_set[1][:64]))
    write_mien(os.path.join(WORK, f'{name}-dry.mien'), model, {})
    start = time.time()
    step = 0
    sums = dict(rec=0.0, dis=0.0, acc=0.0, cls=0.0)
    samples = 0
    while time.time() - start < budget:
        mu = mu_at(step)
        w_cls = cfg['cls'] * min(1.0, max(0.0, (step - 1500 + 1) / 500))
        x, y = batch_of(train_set, 32, gen)
        cls_target = (y >= 0.5).long()
        z = model.encode(x)
        loss = F.mse_loss(model.decode(z, y), x)
        if step % 50 == 0:
            sums['rec'] += loss.item()
            samples += 1
        if hasattr(model, 'set_dis_mode'):
            model.set_dis_mode(False)
        if mu > 0:
            adv = F.cross_entropy(model.discriminate(z), 1 - cls_target)
            loss = loss + mu * adv
        if w_cls > 0:
            flipped = 1 - cls_target
            l_cls = F.cross_entropy(cls_net(model.decode(z, flipped.float())), flipped)
            loss = loss + w_cls * l_cls
            if step % 50 == 0:
                sums['cls'] += l_cls.item()
        opt_ae.zero_grad(set_to_none=True)
        loss.backward()
        if hasattr(model, 'set_dis_mode'):
            model.set_dis_mode(True)
        logits = model.discriminate(z.detach())
        dis_loss = F.cross_entropy(logits, cls_target)
        opt_dis.zero_grad(set_to_none=True)
        dis_loss.backward()
        opt_dis.step()
        opt_ae.step()
        if step % 50 == 0:
            sums['acc'] += (logits.argmax(1) == cls_target).float().mean().item()
            sums['dis'] += dis_loss.item()
        step += 1
        if step % 2500 == 0 or step == SNAP_STEP:
            n = max(1, samples)
            samples = 0
            entry = dict(run=name, step=step, mu=round(mu, 5), cls=w_cls,
                         loss={k: round(v / n, 4) for k, v in sums.items()},
                         secs=round(time.time() - start, 1))
            sums = {k: 0.0 for k in sums}
            entry.update(evaluate(model, judge, test_set))
            log(entry)
        if step == SNAP_STEP and name not in FINALS:
            write_mien(os.path.join(OUT, f'{name}{SNAP_STEP}.mien'), model,
                       dict(study=name, steps=step, config=cfg, trainedWith='PyTorch reference'))
    entry = dict(run=name, step=step, final=True, secs=round(time.time() - start, 1))
    entry.update(evaluate(model, judge, test_set))
    log(entry)
    if name in FINALS:
        write_mien(os.path.join(OUT, f'{name}final.mien'), model,
                   dict(study=name, steps=step, config=cfg, trainedWith='PyTorch reference'))


def prep():
    os.makedirs(WORK, exist_ok=True)
    prepare_faces()
    train_set, test_set = load_faces()
    torch.manual_seed(3)
    cls_net = classifier(32, 0.0)
    acc_c = train_classifier(cls_net, train_set, test_set, 1500, 11)
    torch.save(cls_net, os.path.join(WORK, 'cls.pt'))
    torch.manual_seed(4)
    judge = classifier(48, 0.3)
    acc_j = train_classifier(judge, train_set, test_set, 2500, 12)
    torch.save(judge, os.path.join(WORK, 'judge.pt'))
    log(dict(prep=True, train=int(train_set[0].shape[0]), test=int(test_set[0].shape[0]), clsAcc=round(acc_c, 4),
             judgeAcc=round(acc_j, 4), gpu=torch.cuda.get_device_name()))


T0 = time.time()
if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    if sys.argv[1] == 'prep':
        prep()
    else:
        train(sys.argv[2], float(os.environ.get('BUDGET', '360')))
