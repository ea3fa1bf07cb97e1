"""PyTorch's DataLoader on the same image folder as bench/data.ts: decode (PIL) + augment (torchvision) + batch.

Usage: python3 bench/data_torch.py DIR MODE AUG BATCH WORKERS EPOCHS
  MODE: L (grey) or RGB; AUG: 'crop:P' or 'crop:P,flip' (RandomCrop(size, padding=P), RandomHorizontalFlip).
Prints one JSON object: records/s of each epoch after the first (worker start-up and the page cache's warm-up).
"""
import json, sys, time

import torch
from PIL import Image
from torchvision import datasets, transforms

root, mode, aug, batch, workers, epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(1)


def load(path):
    with open(path, 'rb') as f:
        return Image.open(f).convert(mode)


first = load(datasets.ImageFolder(root).samples[0][0])
steps = []
for part in aug.split(','):
    name, _, arg = part.partition(':')
    if name == 'crop':
        steps.append(transforms.RandomCrop((first.height, first.width), padding=int(arg)))
    elif name == 'flip':
        steps.append(transforms.RandomHorizontalFlip())
steps.append(transforms.ToTensor())
ds = datasets.ImageFolder(root, transform=transforms.Compose(steps), loader=load)
dl = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, persistent_workers=workers > 0)
rates = []
for e in range(epochs + 1):
    t0 = time.perf_counter()
    n = 0
    for x, y in dl:
        n += x.shape[0]
    if e > 0:
        rates.append(n / (time.perf_counter() - t0))
print(json.dumps({'torch': torch.__version__, 'records': len(ds), 'shape': list(x.shape[1:]), 'rates': rates}))
