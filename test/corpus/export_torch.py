#!/usr/bin/env python3
"""Exports the corpus models that no npm package ships: a small transformer encoder with int64 inputs, a GRU
with a bool input (and its weights also listed as graph inputs), a PyTorch-quantized (QDQ) CNN and a MatMulInteger (dynamic-quantized) copy of the encoder.

Run with Debian's PyTorch 1.13 (TorchScript exporter): apt-get install -y python3-torch python3-onnx, then
  /usr/bin/python3 test/corpus/export_torch.py
Outputs go to test/corpus/models/ (each well under 2 MB). Weights are random (seeded): these models are for
structure, not accuracy. Re-running rewrites the files; their sha256 in manifest.json must then be updated.
"""
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'models')


class TinyEncoder(nn.Module):
    """A MiniLM-shaped sentence encoder: token + position embeddings, 2 post-LN layers, masked mean pooling."""

    def __init__(self, vocab=1000, d=64, heads=4, ff=128, layers=2, max_len=128):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.norm = nn.LayerNorm(d)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, activation='gelu', batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, input_ids, attention_mask):
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        x = self.norm(self.tok(input_ids) + self.pos(positions))
        x = self.encoder(x, src_key_padding_mask=attention_mask == 0)
        m = attention_mask.unsqueeze(-1).to(x.dtype)
        return (x * m).sum(1) / m.sum(1).clamp(min=1e-9)


class TinyGru(nn.Module):
    """A keyword-spotting head: Conv1d over 40 mel bins, a 2-layer GRU carrying state, a bool input that resets it."""

    def __init__(self, mels=40, hidden=64, classes=12):
        super().__init__()
        self.conv = nn.Conv1d(mels, hidden, 3, padding=1)
        self.gru = nn.GRU(hidden, hidden, num_layers=2, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, features, h0, reset):
        h0 = torch.where(reset.view(1, -1, 1), torch.zeros_like(h0), h0)
        x = torch.relu(self.conv(features.transpose(1, 2))).transpose(1, 2)
        y, hn = self.gru(x, h0)
        return self.fc(y), hn


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.c1 = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.b1 = nn.BatchNorm2d(16)
        self.r1 = nn.ReLU()
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.b2 = nn.BatchNorm2d(32)
        self.r2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        x = self.r1(self.b1(self.c1(x)))
        x = self.r2(self.b2(self.c2(x)))
        x = self.pool(x).flatten(1)
        return self.dequant(self.fc(x))


def export_encoder(path):
    torch.manual_seed(0)
    model = TinyEncoder().eval()
    # nn.TransformerEncoder deep-copies one layer; distinct weights per layer keep the exporter from sharing them.
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    ids = torch.randint(0, 1000, (2, 16), dtype=torch.int64)
    mask = torch.ones(2, 16, dtype=torch.int64)
    torch.onnx.export(model, (ids, mask), path, opset_version=14, input_names=['input_ids', 'attention_mask'],
                      output_names=['sentence_embedding'],
                      dynamic_axes={'input_ids': {0: 'batch', 1: 'sequence'}, 'attention_mask': {0: 'batch', 1: 'sequence'},
                                    'sentence_embedding': {0: 'batch'}})


def export_gru(path):
    torch.manual_seed(1)
    model = TinyGru().eval()
    feats = torch.randn(1, 50, 40)
    h0 = torch.zeros(2, 1, 64)
    reset = torch.tensor([True])
    # keep_initializers_as_inputs: weights also listed as graph inputs, as IR-3-era models (ONNX model zoo) do.
    torch.onnx.export(model, (feats, h0, reset), path, opset_version=14, input_names=['features', 'h0', 'reset'],
                      output_names=['logits', 'hn'], keep_initializers_as_inputs=True,
                      dynamic_axes={'features': {0: 'batch', 1: 'frames'}, 'h0': {1: 'batch'}, 'reset': {0: 'batch'},
                                    'logits': {0: 'batch', 1: 'frames'}, 'hn': {1: 'batch'}})


def export_qdq_cnn(path):
    torch.manual_seed(2)
    torch.backends.quantized.engine = 'qnnpack'  # Debian's build has no FBGEMM
    model = SmallCnn().eval()
    model.qconfig = torch.ao.quantization.get_default_qconfig('qnnpack')
    torch.ao.quantization.fuse_modules(model, [['c1', 'b1', 'r1'], ['c2', 'b2', 'r2']], inplace=True)
    torch.ao.quantization.prepare(model, inplace=True)
    with torch.no_grad():
        for _ in range(8):
            model(torch.randn(4, 3, 32, 32))
    torch.ao.quantization.convert(model, inplace=True)
    torch.onnx.export(model, (torch.randn(1, 3, 32, 32),), path, opset_version=13, input_names=['image'],
                      output_names=['logits'], dynamic_axes={'image': {0: 'batch'}, 'logits': {0: 'batch'}})


def dynamic_quantize_matmuls(src, dst):
    """Rewrites every MatMul whose B is a 2-D float initializer the way onnxruntime's quantize_dynamic does
    (uint8 weights, per-tensor asymmetric): DynamicQuantizeLinear(A) -> MatMulInteger -> Cast -> Mul(scales)."""
    m = onnx.load(src)
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    nodes = []
    count = 0
    for n in g.node:
        w = inits.get(n.input[1]) if n.op_type == 'MatMul' and len(n.input) == 2 else None
        if w is None or w.data_type != TensorProto.FLOAT or len(w.dims) != 2:
            nodes.append(n)
            continue
        count += 1
        arr = numpy_helper.to_array(w)
        lo, hi = min(float(arr.min()), 0.0), max(float(arr.max()), 0.0)
        scale = (hi - lo) / 255.0 or 1.0
        zp = int(np.clip(round(-lo / scale), 0, 255))
        q = np.clip(np.round(arr / scale) + zp, 0, 255).astype(np.uint8)
        base = w.name
        g.initializer.extend([
            numpy_helper.from_array(q, base + '_quantized'),
            numpy_helper.from_array(np.array(scale, dtype=np.float32), base + '_scale'),
            numpy_helper.from_array(np.array(zp, dtype=np.uint8), base + '_zero_point'),
        ])
        a = n.input[0]
        nodes += [
            helper.make_node('DynamicQuantizeLinear', [a], [a + '_quantized', a + '_scale', a + '_zero_point'],
                             name=f'{n.name}_dql{count}'),
            helper.make_node('MatMulInteger', [a + '_quantized', base + '_quantized', a + '_zero_point', base + '_zero_point'],
                             [n.output[0] + '_int32'], name=f'{n.name}_quant'),
            helper.make_node('Cast', [n.output[0] + '_int32'], [n.output[0] + '_cast'], to=TensorProto.FLOAT,
                             name=f'{n.name}_cast'),
            helper.make_node('Mul', [a + '_scale', base + '_scale'], [n.output[0] + '_scales'], name=f'{n.name}_scales'),
            helper.make_node('Mul', [n.output[0] + '_cast', n.output[0] + '_scales'], [n.output[0]], name=f'{n.name}_mul'),
        ]
    used = {i for node in nodes for i in node.input}
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    del g.node[:]
    g.node.extend(nodes)
    m.producer_name, m.producer_version = 'hone-corpus dynamic_quantize_matmuls', '1'
    onnx.save(m, dst)
    return count


def main():
    os.makedirs(OUT, exist_ok=True)
    enc = os.path.join(OUT, 'tiny-encoder.onnx')
    export_encoder(enc)
    export_gru(os.path.join(OUT, 'tiny-gru-kws.onnx'))
    export_qdq_cnn(os.path.join(OUT, 'qdq-cnn.onnx'))
    n = dynamic_quantize_matmuls(enc, os.path.join(OUT, 'tiny-encoder-matmulinteger.onnx'))
    print(f'quantized {n} MatMuls', file=sys.stderr)
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)))


if __name__ == '__main__':
    main()
