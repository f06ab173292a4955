"""PyTorch twins of test/fixtures/graph-nets.ts for test/bench/graph-step.ts --torch.

Usage: LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 \
         test/bench/graph_step_torch.py mobilenet|resnet8|dscnn|lenet-5|lenet-300-100 [steps]
Trains batch 64 of random data with Adam (lr 1e-3, cross-entropy on logits) on 2 threads, after
two warm-up steps, and prints {"samples_per_s": ...}. TF 'same' padding at stride 2 pads
asymmetrically; the symmetric padding used here gives the same output sizes and work.
"""
import json
import sys
import time

import torch
from torch import nn

torch.set_num_threads(int(__import__("os").environ.get("TORCH_THREADS", "2")))


def mobilenet():
    layers = [nn.Conv2d(1, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16, momentum=0.01, eps=1e-3), nn.ReLU6()]

    class Block(nn.Module):
        def __init__(self, cin, t, c, s):
            super().__init__()
            e = cin * t
            self.body = nn.Sequential(
                nn.Conv2d(cin, e, 1, bias=False), nn.BatchNorm2d(e, momentum=0.01, eps=1e-3), nn.ReLU6(),
                nn.Conv2d(e, e, 3, s, 1, groups=e, bias=False), nn.BatchNorm2d(e, momentum=0.01, eps=1e-3), nn.ReLU6(),
                nn.Conv2d(e, c, 1, bias=False), nn.BatchNorm2d(c, momentum=0.01, eps=1e-3))
            self.residual = s == 1 and cin == c

        def forward(self, x):
            y = self.body(x)
            return x + y if self.residual else y

    cin = 16
    for t, c, s in [(1, 16, 1), (4, 24, 2), (4, 24, 1), (4, 32, 2), (4, 32, 1)]:
        layers.append(Block(cin, t, c, s))
        cin = c
    layers += [nn.Conv2d(cin, 128, 1), nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10)]
    return nn.Sequential(*layers), (1, 28, 28), 10


def resnet8():
    class Block(nn.Module):
        def __init__(self, cin, c, s):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, c, 3, s, 1, bias=False), nn.BatchNorm2d(c, momentum=0.01, eps=1e-3), nn.ReLU(),
                nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c, momentum=0.01, eps=1e-3))
            self.short = nn.Identity() if s == 1 and cin == c else nn.Conv2d(cin, c, 1, s)

        def forward(self, x):
            return torch.relu(self.short(x) + self.body(x))

    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16, momentum=0.01, eps=1e-3), nn.ReLU()]
    cin = 16
    for i, c in enumerate([16, 32, 64]):
        layers.append(Block(cin, c, 1 if i == 0 else 2))
        cin = c
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers), (3, 32, 32), 10


def dscnn():
    f = 64
    layers = [nn.Conv2d(1, f, (10, 4), 2, (5, 1), bias=False), nn.BatchNorm2d(f, momentum=0.01, eps=1e-3), nn.ReLU()]
    for _ in range(4):
        layers += [nn.Conv2d(f, f, 3, 1, 1, groups=f, bias=False), nn.BatchNorm2d(f, momentum=0.01, eps=1e-3), nn.ReLU(),
                   nn.Conv2d(f, f, 1, bias=False), nn.BatchNorm2d(f, momentum=0.01, eps=1e-3), nn.ReLU()]
    layers += [nn.AvgPool2d((25, 5)), nn.Flatten(), nn.Linear(f, 12)]
    return nn.Sequential(*layers), (1, 49, 10), 12


def lenet5():
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)), (1, 28, 28), 10


def lenet300():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10)), (1, 28, 28), 10


NETS = {'mobilenet': mobilenet, 'resnet8': resnet8, 'dscnn': dscnn, 'lenet-5': lenet5, 'lenet-300-100': lenet300}

if __name__ == '__main__':
    net, shape, classes = NETS[sys.argv[1]]()
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(64, *shape)
    y = torch.randint(0, classes, (64,))
    net.train()

    def step():
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    print(json.dumps({'samples_per_s': 64 * steps / (time.perf_counter() - t0)}))
