"""PyTorch reference for bench/train.ts: the zoo's models rebuilt in PyTorch, the same weights, data order,
Adam and batch size.

Reads what bench/train.ts writes into a folder: models.json (each bench model's zoo architecture and
options), every parameter and BatchNorm statistic as `<model>.<zoo initializer name>.npy`, the data
(`<data>.x.npy`, `<data>.y.npy`, `<data>.order_<epoch>.npy`). Prints one JSON object.

  train_torch.py dir=D model=M data=P batch=B threads=T [epochs=E] [steps=S] [loss=ce|mse]
  train_torch.py dir=D mode=check models=M1,M2   one eval-mode forward per model on <M>.check_x.npy, compared
                                                 with ONNX Runtime's output of the zoo model, <M>.check_ort.npy

Each model's weights go through an explicit map from the zoo's initializer names to the module's
parameters and buffers (with a transpose where the layouts differ); loading fails unless every zoo
tensor and every module tensor is covered once with matching shapes. Hone never depends on Python: this
only exists to measure Hone against PyTorch on the same machine and thread count.
"""
import json, math, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

args = dict(a.split('=', 1) for a in sys.argv[1:])
folder = args['dir']
threads = int(args.get('threads', 1))
torch.set_num_threads(threads)
torch.manual_seed(0)
configs = json.load(open(f'{folder}/models.json'))

# ---- the architectures, module names as in the zoo's graphs ----------------------------------------


def activation(kind):
    return {'relu': F.relu, 'relu6': F.relu6, 'tanh': torch.tanh, 'sigmoid': torch.sigmoid, 'gelu': F.gelu}[kind]


class Mlp(nn.Module):
    """src/zoo/mlp.ts: Gemm layers with an activation between; the input flattened when it is an image."""

    def __init__(self, c):
        super().__init__()
        widths = [c['inputSize'], *c['hidden'], c['classes']]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.act = activation(c['activation'])

    def forward(self, x):
        x = torch.flatten(x, 1)
        for fc in self.fcs[:-1]:
            x = self.act(fc(x))
        return self.fcs[-1](x)

    def weight_map(self, c):
        return [(f'fc{i + 1}.{p}', f'fcs.{i}.{p}', None) for i in range(len(self.fcs)) for p in ('weight', 'bias')]


class LeNet5(nn.Module):
    """src/zoo/lenet5.ts: conv5x5 (pad 2)–act–pool 2x2, conv5x5–act–pool, Gemm layers."""

    def __init__(self, c):
        super().__init__()
        c1, c2 = c['channels']
        self.conv1 = nn.Conv2d(c['inputChannels'], c1, 5, padding=2)
        self.conv2 = nn.Conv2d(c1, c2, 5)
        side = ((c['size'] // 2) - 4) // 2
        widths = [c2 * side * side, *c['fc'], c['classes']]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.act = activation(c['activation'])
        self.pool = F.max_pool2d if c['pool'] == 'max' else F.avg_pool2d

    def forward(self, x):
        x = self.pool(self.act(self.conv1(x)), 2)
        x = self.pool(self.act(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        for fc in self.fcs[:-1]:
            x = self.act(fc(x))
        return self.fcs[-1](x)

    def weight_map(self, c):
        convs = [(f'{n}.{p}', f'{n}.{p}', None) for n in ('conv1', 'conv2') for p in ('weight', 'bias')]
        return convs + [(f'fc{i + 1}.{p}', f'fcs.{i}.{p}', None) for i in range(len(self.fcs)) for p in ('weight', 'bias')]


def bn_map(zoo, mod):
    return [(f'{zoo}.{p}', f'{mod}.{p}', None) for p in ('weight', 'bias', 'running_mean', 'running_var')]


class BasicBlock(nn.Module):
    """conv3x3(stride)–BN–ReLU–conv3x3–BN, plus the input or a 1x1 conv(stride)+BN projection, then ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.project = stride != 1 or cin != cout
        if self.project:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.downsample(x) if self.project else x))


class ResNet(nn.Module):
    """src/zoo/resnet.ts: conv3x3–BN–ReLU stem, stages of basic blocks (stride 2 entering every stage but the
    first), global average pool, Gemm."""

    def __init__(self, c):
        super().__init__()
        widths, blocks = c['widths'], c['blocks']
        self.conv1 = nn.Conv2d(c['inputChannels'], widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages, width = [], widths[0]
        for s, (n, out) in enumerate(zip(blocks, widths)):
            stage = []
            for i in range(n):
                stage.append(BasicBlock(width, out, 2 if s > 0 and i == 0 else 1))
                width = out
            stages.append(nn.Sequential(*stage))
        self.layers = nn.ModuleList(stages)
        self.fc = nn.Linear(width, c['classes'])

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for stage in self.layers:
            x = stage(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def weight_map(self, c):
        m = [('conv1.weight', 'conv1.weight', None), *bn_map('bn1', 'bn1')]
        for s, stage in enumerate(self.layers):
            for i, block in enumerate(stage):
                zoo, mod = f'layer{s + 1}.{i}', f'layers.{s}.{i}'
                m += [(f'{zoo}.conv1.weight', f'{mod}.conv1.weight', None), *bn_map(f'{zoo}.bn1', f'{mod}.bn1')]
                m += [(f'{zoo}.conv2.weight', f'{mod}.conv2.weight', None), *bn_map(f'{zoo}.bn2', f'{mod}.bn2')]
                if block.project:
                    m += [(f'{zoo}.downsample.0.weight', f'{mod}.downsample.0.weight', None)]
                    m += bn_map(f'{zoo}.downsample.1', f'{mod}.downsample.1')
        return m + [('fc.weight', 'fc.weight', None), ('fc.bias', 'fc.bias', None)]


class ConvBn(nn.Module):
    """Conv (no bias, 'same' padding) then BatchNorm, and the activation unless linear."""

    def __init__(self, cin, cout, k, act, stride=1, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = act

    def forward(self, x):
        y = self.bn(self.conv(x))
        return self.act(y) if self.act else y


class InvertedResidual(nn.Module):
    """1x1 expand (when the expansion widens), 3x3 depthwise (stride), 1x1 linear projection; + input when shapes match."""

    def __init__(self, cin, hidden, cout, stride, act):
        super().__init__()
        self.expand = ConvBn(cin, hidden, 1, act) if hidden != cin else None
        self.dw = ConvBn(hidden, hidden, 3, act, stride, groups=hidden)
        self.project = ConvBn(hidden, cout, 1, None)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.project(self.dw(self.expand(x) if self.expand else x))
        return x + y if self.residual else y


MOBILENET_STAGES = [(1, 16, 1, 1), (0, 24, 2, 2), (0, 32, 3, 2), (0, 64, 4, 2), (0, 96, 3, 1), (0, 160, 3, 2), (0, 320, 1, 1)]


def divisible(v, d=8):
    r = max(d, math.floor((v + d / 2) / d) * d)
    return r + d if r < 0.9 * v else r


class MobileNetV2(nn.Module):
    """src/zoo/mobilenet.ts: stride-2 conv3x3 stem, the inverted residual stages, 1x1 conv to 1280, average pool, Gemm."""

    def __init__(self, c):
        super().__init__()
        act, wm = activation(c['activation']), c['widthMultiplier']
        width = divisible(32 * wm)
        layers = [ConvBn(c['inputChannels'], width, 3, act, stride=2)]
        for t, ch, n, s in MOBILENET_STAGES[: c['stages']]:
            out = divisible(ch * wm)
            for i in range(n):
                layers.append(InvertedResidual(width, width * (t or c['expansion']), out, s if i == 0 else 1, act))
                width = out
        last = divisible(1280 * wm) if wm > 1 else 1280
        layers.append(ConvBn(width, last, 1, act))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(last, c['classes'])

    def forward(self, x):
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))

    def weight_map(self, c):
        def conv_bn(zoo, mod):
            return [(f'{zoo}.conv.weight', f'{mod}.conv.weight', None), *bn_map(f'{zoo}.bn', f'{mod}.bn')]

        m = []
        for i, layer in enumerate(self.features):
            if isinstance(layer, ConvBn):
                m += conv_bn(f'features.{i}', f'features.{i}')
                continue
            if layer.expand is not None:
                m += conv_bn(f'features.{i}.expand', f'features.{i}.expand')
            m += conv_bn(f'features.{i}.dw', f'features.{i}.dw')
            m += conv_bn(f'features.{i}.project', f'features.{i}.project')
        return m + [('classifier.weight', 'classifier.weight', None), ('classifier.bias', 'classifier.bias', None)]


class EncoderLayer(nn.Module):
    """Pre-LN: x + out_proj(attention(LN1(x))), then x + fc2(act(fc1(LN2(x)))); attention spelled out as the
    zoo graph does it: heads split by reshape/transpose, softmax(QKᵀ/√dₕ)·V, no mask."""

    def __init__(self, d, heads, ffn, act):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d, eps=1e-5), nn.LayerNorm(d, eps=1e-5)
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.act = act

    def forward(self, x):
        b, s, d = x.shape
        dh = d // self.heads
        h = self.norm1(x)
        q = self.q_proj(h).reshape(b, s, self.heads, dh).transpose(1, 2)
        k = self.k_proj(h).reshape(b, s, self.heads, dh).transpose(1, 2)
        v = self.v_proj(h).reshape(b, s, self.heads, dh).transpose(1, 2)
        probs = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(dh), dim=-1)
        x = x + self.out_proj((probs @ v).transpose(1, 2).reshape(b, s, d))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class Transformer(nn.Module):
    """src/zoo/transformer.ts: (token + position embeddings when vocab > 0), pre-LN encoder layers, final LayerNorm;
    its output is the last hidden state [batch, seq, dModel] (no pooling, no head)."""

    def __init__(self, c):
        super().__init__()
        d = c['dModel']
        if c['vocab'] > 0:
            self.embed_tokens = nn.Embedding(c['vocab'], d)
            self.embed_positions = nn.Embedding(c['maxSeq'], d)
        self.layers = nn.ModuleList(EncoderLayer(d, c['heads'], c['ffn'], activation(c['activation'])) for _ in range(c['layers']))
        self.norm = nn.LayerNorm(d, eps=1e-5) if c['finalNorm'] else None
        self.vocab = c['vocab']

    def forward(self, x):
        if self.vocab > 0:
            x = self.embed_tokens(x) + self.embed_positions.weight[: x.shape[1]]
        for layer in self.layers:
            x = layer(x)
        return self.norm(x) if self.norm is not None else x

    def weight_map(self, c):
        t = lambda w: w.T  # the zoo's MatMul weights are [in, out]; nn.Linear keeps [out, in]
        m = [('embed_tokens.weight', 'embed_tokens.weight', None), ('embed_positions.weight', 'embed_positions.weight', None)] if self.vocab else []
        for i in range(len(self.layers)):
            zoo, mod = f'layers.{i}', f'layers.{i}'
            for n in ('norm1', 'norm2'):
                m += [(f'{zoo}.{n}.weight', f'{mod}.{n}.weight', None), (f'{zoo}.{n}.bias', f'{mod}.{n}.bias', None)]
            for n in ('q_proj', 'k_proj', 'v_proj', 'out_proj'):
                m += [(f'{zoo}.attn.{n}.weight', f'{mod}.{n}.weight', t), (f'{zoo}.attn.{n}.bias', f'{mod}.{n}.bias', None)]
            for n in ('fc1', 'fc2'):
                m += [(f'{zoo}.ffn.{n}.weight', f'{mod}.{n}.weight', t), (f'{zoo}.ffn.{n}.bias', f'{mod}.{n}.bias', None)]
        if self.norm is not None:
            m += [('norm.weight', 'norm.weight', None), ('norm.bias', 'norm.bias', None)]
        return m


ARCHS = {'mlp': Mlp, 'lenet5': LeNet5, 'resnet': ResNet, 'mobilenet': MobileNetV2, 'transformer': Transformer}


def build(name):
    """The bench model `name` with the zoo's initial weights; fails unless the weight map covers both sides exactly."""
    c = configs[name]
    model = ARCHS[c['arch']](c['options'])
    zoo = {n: tuple(d) for n, d in c['initializers'].items()}
    target = {n: t for n, t in model.state_dict().items() if not n.endswith('num_batches_tracked')}
    wmap = model.weight_map(c['options'])
    zoo_names = [z for z, _, _ in wmap]
    mod_names = [m for _, m, _ in wmap]
    problems = []
    if len(set(zoo_names)) != len(zoo_names) or len(set(mod_names)) != len(mod_names):
        problems.append('the weight map names a tensor twice')
    if set(zoo_names) != set(zoo):
        problems.append(f'zoo tensors unmapped {sorted(set(zoo) - set(zoo_names))}, mapped but absent {sorted(set(zoo_names) - set(zoo))}')
    if set(mod_names) != set(target):
        problems.append(f'module tensors unloaded {sorted(set(target) - set(mod_names))}, mapped but absent {sorted(set(mod_names) - set(target))}')
    if problems:
        raise SystemExit(f'{name}: the zoo and PyTorch models differ: ' + '; '.join(problems))
    with torch.no_grad():
        for z, m, transform in wmap:
            value = torch.from_numpy(np.load(f'{folder}/{name}.{z}.npy'))
            if tuple(value.shape) != zoo[z]:
                raise SystemExit(f'{name}: {z}.npy has shape {tuple(value.shape)}, the zoo model says {zoo[z]}')
            value = transform(value) if transform else value
            if value.shape != target[m].shape:
                raise SystemExit(f'{name}: zoo {z} {tuple(value.shape)} does not fit {m} {tuple(target[m].shape)}')
            target[m].copy_(value)
    return model


if args.get('mode') == 'check':
    # One eval-mode forward (BatchNorm on its running statistics, as ORT runs the zoo model) per model.
    out = {}
    for name in args['models'].split(','):
        model = build(name).eval()
        x = torch.from_numpy(np.load(f'{folder}/{name}.check_x.npy'))
        ref = np.load(f'{folder}/{name}.check_ort.npy')
        with torch.no_grad():
            y = model(x).numpy()
        out[name] = {
            'shape': list(y.shape),
            'maxAbsDiff': float(np.abs(y.astype(np.float64) - ref).max()) if y.shape == ref.shape else None,
            'maxAbsRef': float(np.abs(ref).max()),
        }
    print(json.dumps({'torch': torch.__version__, 'models': out}))
    sys.exit(0)

# ---- training: the trainer's loop over the same batches ---------------------------------------------
model_name, data = args['model'], args['data']
batch = int(args['batch'])
epochs, max_steps = int(args.get('epochs', 1)), int(args.get('steps', 10**9))
lr = float(args.get('lr', 1e-3))
loss_kind = args.get('loss', 'ce')
model = build(model_name).train()
x_train = torch.from_numpy(np.load(f'{folder}/{data}.x.npy'))
y_train = torch.from_numpy(np.load(f'{folder}/{data}.y.npy'))
# foreach=True: the multi-tensor Adam, which PyTorch 1.13 uses by default only on CUDA. On this CPU it updates
# the MLP's 535k parameters in 0.64 ms against 8.3 ms for the default per-parameter loop, so it is the
# baseline's best (a fair baseline is the fastest the peer offers).
opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)
n = x_train.shape[0]
steps_per_epoch = min(n // batch, max_steps)
graph_s = opt_s = data_s = 0.0
steps = 0
# samples/s over the steps after the first `warm` (bench/train.ts leaves the same steps out of Hone's).
warm = int(args.get('warm', 0))
ends = []
correct = 0
for epoch in range(epochs):
    order = torch.from_numpy(np.load(f'{folder}/{data}.order_{epoch}.npy').astype(np.int64))
    correct = 0
    for s in range(steps_per_epoch):
        t0 = time.perf_counter()
        idx = order[s * batch:(s + 1) * batch]
        xb, yb = x_train[idx], y_train[idx]
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = model(xb)
        loss = F.cross_entropy(out, yb) if loss_kind == 'ce' else F.mse_loss(out, yb)
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if loss_kind == 'ce':
            correct += int((out.argmax(1) == yb).sum())
        data_s += t1 - t0; graph_s += t2 - t1; opt_s += t3 - t2
        steps += 1
        ends.append(time.perf_counter())
result = {}
if loss_kind == 'ce':
    result['trainAccuracy'] = correct / (steps_per_epoch * batch)
    try:
        x_test = torch.from_numpy(np.load(f'{folder}/{data}.x_test.npy'))
        y_test = torch.from_numpy(np.load(f'{folder}/{data}.y_test.npy'))
        with torch.no_grad():
            result['testAccuracy'] = float((model.eval()(x_test).argmax(1) == y_test).float().mean())
    except FileNotFoundError:
        pass
total = graph_s + opt_s + data_s
print(json.dumps({
    'samplesPerSec': (len(ends) - warm) * batch / (ends[-1] - ends[warm - 1]) if warm and len(ends) > warm else steps * batch / total,
    'steps': steps,
    'graphMs': graph_s * 1e3, 'optimizerMs': opt_s * 1e3, 'dataMs': data_s * 1e3,
    **result, 'torch': torch.__version__,
}))
