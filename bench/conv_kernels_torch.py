"""PyTorch's side of bench/conv-kernels.ts: one 3x3 convolution layer's three training kernels and a GEMM.

Arguments as key=value: layers=64x32,128x16,256x8 batch=32 threads=2 rounds=15. Per layer (C->C channels,
SIZE x SIZE, pad 1, stride 1, no bias): the forward convolution (no autograd), the input gradient and the
weight gradient (aten.convolution_backward with one output each, what autograd calls), and a 1024^3 matmul.
Each kernel runs twice untimed, then once per round, interleaved; prints one JSON line of medians in ms.
"""
import json, statistics, sys, time

import torch
import torch.nn.functional as F

args = dict(a.split('=', 1) for a in sys.argv[1:])
layers = [tuple(int(v) for v in s.split('x')) for s in args.get('layers', '64x32,128x16,256x8').split(',')]
batch = int(args.get('batch', '32'))
rounds = int(args.get('rounds', '15'))
torch.set_num_threads(int(args.get('threads', '2')))
torch.manual_seed(0)

kernels = {}
for c, s in layers:
    x = torch.randn(batch, c, s, s)
    w = torch.randn(c, c, 3, 3) * 0.05
    gy = torch.randn(batch, c, s, s)

    def backward(mask, x=x, w=w, gy=gy):
        return torch.ops.aten.convolution_backward(gy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask)

    kernels[f'{c}x{s}'] = {
        'forward': lambda x=x, w=w: F.conv2d(x, w, padding=1),
        'inputGrad': lambda: backward([True, False, False]),
        'weightGrad': lambda: backward([False, True, False]),
    }
a = torch.randn(1024, 1024)
b = torch.randn(1024, 1024)
kernels['gemm'] = {'matmul': lambda: a @ b}

times = {layer: {k: [] for k in ks} for layer, ks in kernels.items()}
with torch.no_grad():
    for ks in kernels.values():
        for f in ks.values():
            f()
            f()
    for _ in range(rounds):
        for layer, ks in kernels.items():
            for k, f in ks.items():
                t = time.perf_counter()
                f()
                times[layer][k].append((time.perf_counter() - t) * 1000)
print(json.dumps({layer: {k: statistics.median(v) for k, v in ks.items()} for layer, ks in times.items()}))
