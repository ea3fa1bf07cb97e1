"""PyTorch dynamic int8 on the same encoder as bench/quantize.ts: same weights (loaded from .npy files the
TypeScript side writes), same input, same thread count. Times fp32 and torch.ao dynamic int8 (nn.Linear) in
blocks (warm-up, N runs of one; warm-up, N runs of the other; repeat) and prints one JSON object.

  /usr/bin/python3 bench/quantize_torch.py DIR --layers 4 --d 256 --heads 4 --threads 2 --rounds 3 --runs 20
"""
import argparse, json, math, os, time
import numpy as np
import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument('dir')
p.add_argument('--layers', type=int, default=4)
p.add_argument('--d', type=int, default=256)
p.add_argument('--heads', type=int, default=4)
p.add_argument('--threads', type=int, default=2)
p.add_argument('--rounds', type=int, default=3)
p.add_argument('--runs', type=int, default=20)
a = p.parse_args()
torch.set_num_threads(a.threads)
W = lambda name: torch.from_numpy(np.load(os.path.join(a.dir, name + '.npy')))


def linear(prefix):
    w = W(prefix + '.weight')  # zoo layout [in, out]
    lin = nn.Linear(w.shape[0], w.shape[1])
    with torch.no_grad():
        lin.weight.copy_(w.t())
        lin.bias.copy_(W(prefix + '.bias'))
    return lin


def norm(prefix):
    ln = nn.LayerNorm(a.d, eps=1e-5)
    with torch.no_grad():
        ln.weight.copy_(W(prefix + '.weight'))
        ln.bias.copy_(W(prefix + '.bias'))
    return ln


class Layer(nn.Module):
    def __init__(self, i):
        super().__init__()
        n = f'layers.{i}'
        self.norm1, self.norm2 = norm(n + '.norm1'), norm(n + '.norm2')
        self.q, self.k, self.v, self.o = (linear(f'{n}.attn.{x}_proj') for x in ('q', 'k', 'v', 'out'))
        self.fc1, self.fc2 = linear(n + '.ffn.fc1'), linear(n + '.ffn.fc2')

    def forward(self, x):
        b, s, d = x.shape
        h, dh = a.heads, d // a.heads
        y = self.norm1(x)
        q = self.q(y).view(b, s, h, dh).transpose(1, 2)
        k = self.k(y).view(b, s, h, dh).transpose(1, 2)
        v = self.v(y).view(b, s, h, dh).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(b, s, d))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm2(x))))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(Layer(i) for i in range(a.layers))
        self.norm = norm('norm')

    def forward(self, x):
        for l in self.layers:
            x = l(x)
        return self.norm(x)


x = torch.from_numpy(np.load(os.path.join(a.dir, 'input.npy')))
fp32 = Encoder().eval()
engine = next(e for e in ('fbgemm', 'onednn', 'x86', 'qnnpack') if e in torch.backends.quantized.supported_engines)
torch.backends.quantized.engine = engine
int8 = torch.ao.quantization.quantize_dynamic(Encoder().eval(), {nn.Linear}, dtype=torch.qint8)


def block(model):
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        t = []
        for _ in range(a.runs):
            s = time.perf_counter()
            model(x)
            t.append((time.perf_counter() - s) * 1000)
    return float(np.median(t))


med = {'fp32': [], 'int8': []}
for _ in range(a.rounds):
    med['fp32'].append(block(fp32))
    med['int8'].append(block(int8))
with torch.inference_mode():
    ref, q = fp32(x).flatten(), int8(x).flatten()
ort_ref = torch.from_numpy(np.load(os.path.join(a.dir, 'ort_fp32.npy'))).flatten()
cos = lambda u, v: float(torch.dot(u, v) / (u.norm() * v.norm()))
print(json.dumps({
    'torch': torch.__version__, 'engine': engine, 'threads': a.threads,
    'fp32_ms': float(np.median(med['fp32'])), 'int8_ms': float(np.median(med['int8'])),
    'cosine_int8_vs_fp32': cos(ref, q), 'cosine_fp32_vs_ort': cos(ref, ort_ref),
}))
