"""PyTorch reference for bench/train.ts: the same MLP / LeNet-5, weights, data order, Adam and batch size.

Reads the arrays bench/train.ts writes (.npy) from a folder; prints one JSON object. Hone never depends on
Python: this only exists to measure Hone against PyTorch on the same machine and thread count.
"""
import json, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

args = dict(a.split('=', 1) for a in sys.argv[1:])
folder, model_name = args['dir'], args['model']
batch, threads = int(args['batch']), int(args['threads'])
epochs, max_steps = int(args.get('epochs', 1)), int(args.get('steps', 10**9))
lr = float(args.get('lr', 1e-3))
torch.set_num_threads(threads)
torch.manual_seed(0)


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 512), nn.Linear(512, 256), nn.Linear(256, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


model = LeNet5() if model_name == 'lenet5' else Mlp()
with torch.no_grad():
    for name, p in model.named_parameters():
        p.copy_(torch.from_numpy(np.load(f'{folder}/{model_name}.{name}.npy')))
x_train = torch.from_numpy(np.load(f'{folder}/x_train.npy'))
y_train = torch.from_numpy(np.load(f'{folder}/y_train.npy'))
x_test = torch.from_numpy(np.load(f'{folder}/x_test.npy'))
y_test = torch.from_numpy(np.load(f'{folder}/y_test.npy'))
if model_name == 'mlp':
    x_train, x_test = x_train.reshape(-1, 784), x_test.reshape(-1, 784)
opt = torch.optim.Adam(model.parameters(), lr=lr)
n = x_train.shape[0]
steps_per_epoch = min(n // batch, max_steps)
graph_s = opt_s = data_s = 0.0
steps = 0
correct = 0
for epoch in range(epochs):
    order = torch.from_numpy(np.load(f'{folder}/order_{epoch}.npy').astype(np.int64))
    correct = 0
    for s in range(steps_per_epoch):
        t0 = time.perf_counter()
        idx = order[s * batch:(s + 1) * batch]
        xb, yb = x_train[idx], y_train[idx]
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = model(xb)
        loss = F.cross_entropy(out, yb)
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        correct += int((out.argmax(1) == yb).sum())
        data_s += t1 - t0; graph_s += t2 - t1; opt_s += t3 - t2
        steps += 1
with torch.no_grad():
    test_acc = float((model(x_test).argmax(1) == y_test).float().mean())
total = graph_s + opt_s + data_s
print(json.dumps({
    'samplesPerSec': steps * batch / total, 'steps': steps,
    'graphMs': graph_s * 1e3, 'optimizerMs': opt_s * 1e3, 'dataMs': data_s * 1e3,
    'trainAccuracy': correct / (steps_per_epoch * batch), 'testAccuracy': test_acc, 'torch': torch.__version__,
}))
