#!/usr/bin/env python3
"""PyTorch peer of our mini-xception training step, for bench/model-step.ts.

Builds the same network as shared/models/mini-xception.ts (oarriaga/face_classification's
mini_XCEPTION, RGB input) with either ending, and times the same training step: forward in
training mode, categorical cross-entropy plus the same L2 terms, backward, Adam. One thread,
as one of our wasm workers has (Debian's python3-torch 1.13: /usr/bin/python3).

Prints one JSON line: parameter counts and the median step time.
  /usr/bin/python3 bench/peer/mini_xception_step.py --batch 32 --image-size 48 --head paper
"""
import argparse
import json
import os
import statistics
import time

import torch
from torch import nn
import torch.nn.functional as F

NUM_CLASSES = 7
# Keras' BatchNormalization defaults (momentum 0.99 is PyTorch's momentum 0.01).
BN = dict(eps=1e-3, momentum=0.01)


def separable(cin, cout):
    # Keras SeparableConv2D: depthwise 3x3 'same' then pointwise 1x1, no bias.
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
        nn.Conv2d(cin, cout, 1, bias=False),
    )


class Module(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.residual = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout, **BN))
        self.sep1 = nn.Sequential(separable(cin, cout), nn.BatchNorm2d(cout, **BN), nn.ReLU())
        self.sep2 = nn.Sequential(separable(cout, cout), nn.BatchNorm2d(cout, **BN))
        # Keras 'same' 3x3/2 pooling gives the same output sizes as padding 1 here (44, 22, 11, 6 px).
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)

    def forward(self, x):
        return self.pool(self.sep2(self.sep1(x))) + self.residual(x)


class MiniXception(nn.Module):
    def __init__(self, head):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, bias=False)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.base = nn.Sequential(self.conv1, nn.BatchNorm2d(8, **BN), nn.ReLU(), self.conv2, nn.BatchNorm2d(8, **BN), nn.ReLU())
        self.modules_ = nn.Sequential(Module(8, 16), Module(16, 32), Module(32, 64), Module(64, 128))
        self.head = head
        if head == 'paper':
            self.head_conv = nn.Conv2d(128, NUM_CLASSES, 3, padding=1)
        else:
            self.head_dense = nn.Linear(128, 128)
            self.head_dropout = nn.Dropout(0.5)
            self.predictions = nn.Linear(128, NUM_CLASSES)

    def regularized(self):
        # What our model puts L2 on: the two base convolutions, and the study head's Dense 128 kernel.
        kernels = [self.conv1.weight, self.conv2.weight]
        return kernels + ([self.head_dense.weight] if self.head == 'study' else [])

    def forward(self, x):
        x = self.modules_(self.base(x))
        if self.head == 'paper':
            return self.head_conv(x).mean(dim=(2, 3))
        x = F.relu(self.head_dense(x.mean(dim=(2, 3))))
        return self.predictions(self.head_dropout(x))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--image-size', type=int, default=48)
    parser.add_argument('--head', choices=['paper', 'study'], default='paper')
    parser.add_argument('--l2', type=float, default=0.01)
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = MiniXception(args.head)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    images = torch.rand(args.batch, 3, args.image_size, args.image_size)
    labels = torch.randint(0, NUM_CLASSES, (args.batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss = loss + args.l2 * sum((w * w).sum() for w in model.regularized())
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    ms = statistics.median(times) * 1000
    trainable = sum(p.numel() for p in model.parameters())
    # BatchNorm's running mean and variance (Keras' moving statistics), not num_batches_tracked.
    statistics_ = sum(b.numel() for name, b in model.named_buffers() if name.endswith(('running_mean', 'running_var')))
    print(json.dumps({
        'framework': f'pytorch {torch.__version__}',
        'threads': torch.get_num_threads(),
        'head': args.head,
        'batch': args.batch,
        'imageSize': args.image_size,
        'trainableParams': trainable,
        'movingStatistics': statistics_,
        'totalParams': trainable + statistics_,
        'msPerStep': ms,
        'imagesPerSecond': args.batch / (ms / 1000),
        'stepsMs': [t * 1000 for t in times],
        'loadAverage': list(os.getloadavg()),
    }))


if __name__ == '__main__':
    main()
