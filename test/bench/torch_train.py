#!/usr/bin/python3
"""PyTorch side of test/bench/speed.ts and modern-nets.ts: the same models, batch and optimizer,
timed the same way.

Run (fair peer, see /work/shared/notes/benchmarks.md):
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 test/bench/torch_train.py
  ... torch_train.py --net mbv2-28 [--batch 64] [--batches 10] [--warm 2] [--latency-runs 20]
The first form times LeNet-300-100 and LeNet-5 (speed.ts); --net times one net of bench-models.ts
(modern-nets.ts) and reports its parameter count (to check the twin) and this process's peak RSS.
Prints one JSON document on stdout. Data is random (throughput does not depend on the values).
"""
import json
import os
import statistics
import sys
import time

import torch
from torch import nn

BATCH = 64


def lenet_300_100() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10)
    )


def lenet_5() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


MODELS = {"lenet-300-100": lenet_300_100, "lenet-5": lenet_5}


# ---- twins of test/bench/bench-models.ts's modern nets (NCHW; Keras layers in the comments) ----

def same_pad(n: int, k: int, s: int) -> tuple:
    """TensorFlow 'same' padding as (before, after): total = max((ceil(n/s)-1)*s + k - n, 0), odd pixel after."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


class Net:
    """Builds a model layer by layer while tracking (C, H, W), so 'same' padding can be made explicit."""

    def __init__(self, c: int, h: int, w: int):
        self.c, self.h, self.w = c, h, w

    def conv(self, cout: int, k, s: int = 1, bias: bool = False, groups: int = 1, padding: str = "same") -> nn.Module:
        kh, kw = (k, k) if isinstance(k, int) else k
        layers = []
        if padding == "same":
            (t, b), (l, r) = same_pad(self.h, kh, s), same_pad(self.w, kw, s)
            if (t, l) == (b, r):
                layers.append(nn.Conv2d(self.c, cout, (kh, kw), s, padding=(t, l), bias=bias, groups=groups))
            else:
                layers += [nn.ZeroPad2d((l, r, t, b)), nn.Conv2d(self.c, cout, (kh, kw), s, bias=bias, groups=groups)]
            self.h, self.w = -(-self.h // s), -(-self.w // s)
        else:
            layers.append(nn.Conv2d(self.c, cout, (kh, kw), s, bias=bias, groups=groups))
            self.h, self.w = (self.h - kh) // s + 1, (self.w - kw) // s + 1
        self.c = cout
        return nn.Sequential(*layers) if len(layers) > 1 else layers[0]

    def dw(self, s: int, padding: str = "same") -> nn.Module:
        return self.conv(self.c, 3, s, groups=self.c, padding=padding)

    def pad(self, t: int, b: int, l: int, r: int) -> nn.Module:
        self.h += t + b
        self.w += l + r
        return nn.ZeroPad2d((l, r, t, b))

    def bn(self, keras_momentum: float = 0.99) -> nn.Module:
        # Keras: moving = m * moving + (1 - m) * batch; PyTorch's momentum is the (1 - m).
        return nn.BatchNorm2d(self.c, eps=1e-3, momentum=1 - keras_momentum)


class InvertedResidual(nn.Module):
    """MobileNetV2 block (bench-models.ts invertedResidual): expand, depthwise, linear project, + input."""

    def __init__(self, net: Net, t: int, c: int, s: int, m: float, expand: bool, keras_pad: bool):
        super().__init__()
        in_c = net.c
        layers = []
        if expand:
            layers += [net.conv(in_c * t, 1), net.bn(m), nn.ReLU6()]
        if s == 2 and keras_pad:
            odd = lambda d: (1, 1) if d % 2 == 1 else (0, 1)
            (t0, b0), (l0, r0) = odd(net.h), odd(net.w)
            layers += [net.pad(t0, b0, l0, r0), net.dw(s, "valid")]
        else:
            layers.append(net.dw(s))
        layers += [net.bn(m), nn.ReLU6(), net.conv(c, 1), net.bn(m)]
        self.body = nn.Sequential(*layers)
        self.residual = s == 1 and in_c == c

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


def head(net: Net, classes: int) -> list:
    return [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(net.c, classes)]


def mbv2_28() -> nn.Module:
    net = Net(1, 28, 28)
    layers = [net.conv(16, 3, 2), net.bn(), nn.ReLU6()]
    for t, c, s in [(1, 16, 1), (4, 24, 2), (4, 24, 1), (4, 32, 2), (4, 32, 1)]:
        layers.append(InvertedResidual(net, t, c, s, 0.99, True, False))
    layers += [net.conv(128, 1, bias=True), nn.ReLU6()]
    return nn.Sequential(*layers, *head(net, 10))


def make_divisible(v: float, d: int = 8) -> int:
    r = max(d, int(v + d / 2) // d * d)
    return r + d if r < 0.9 * v else r


def mobilenet_v2(alpha: float, size: int) -> nn.Module:
    net = Net(3, size, size)
    m = 0.999
    layers = [net.conv(make_divisible(32 * alpha), 3, 2), net.bn(m), nn.ReLU6()]
    blocks = [(1, 16, 1), (6, 24, 2), (6, 24, 1), (6, 32, 2), (6, 32, 1), (6, 32, 1), (6, 64, 2), (6, 64, 1), (6, 64, 1), (6, 64, 1),
              (6, 96, 1), (6, 96, 1), (6, 96, 1), (6, 160, 2), (6, 160, 1), (6, 160, 1), (6, 320, 1)]
    for i, (t, c, s) in enumerate(blocks):
        layers.append(InvertedResidual(net, t, make_divisible(int(c * alpha)), s, m, i > 0, True))
    layers += [net.conv(make_divisible(1280 * alpha) if alpha > 1 else 1280, 1), net.bn(m), nn.ReLU6()]
    return nn.Sequential(*layers, *head(net, 10))


class BasicBlock(nn.Module):
    """ResNet basic block: conv-BN-ReLU-conv-BN + shortcut (1x1 conv + BN when the shape changes), ReLU."""

    def __init__(self, net: Net, filters: int, stride: int):
        super().__init__()
        in_c, h, w = net.c, net.h, net.w
        self.body = nn.Sequential(net.conv(filters, 3, stride), net.bn(), nn.ReLU(), net.conv(filters, 3), net.bn())
        if stride == 1 and in_c == filters:
            self.shortcut = nn.Identity()
        else:
            side = Net(in_c, h, w)
            self.shortcut = nn.Sequential(side.conv(filters, 1, stride), side.bn())

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


def cifar_resnet(blocks_per_stage: int) -> nn.Module:
    """bench-models.ts cifarResNet: Conv16-BN-ReLU, 3 stages (16/32/64, stride 1/2/2) of basic blocks, GAP, head."""
    net = Net(3, 32, 32)
    layers = [net.conv(16, 3), net.bn(), nn.ReLU()]
    for filters, first_stride in [(16, 1), (32, 2), (64, 2)]:
        for b in range(blocks_per_stage):
            layers.append(BasicBlock(net, filters, first_stride if b == 0 else 1))
    return nn.Sequential(*layers, *head(net, 10))


def ds_cnn() -> nn.Module:
    net = Net(1, 49, 10)
    layers = [net.conv(64, (10, 4), 2), net.bn(), nn.ReLU()]
    for _ in range(4):
        layers += [net.dw(1), net.bn(), nn.ReLU(), net.conv(64, 1), net.bn(), nn.ReLU()]
    return nn.Sequential(*layers, *head(net, 12))


NETS = {
    "lenet-300-100": (lenet_300_100, (1, 28, 28), 10),
    "lenet-5": (lenet_5, (1, 28, 28), 10),
    "mbv2-28": (mbv2_28, (1, 28, 28), 10),
    "mbv2-0.35-96": (lambda: mobilenet_v2(0.35, 96), (3, 96, 96), 10),
    "mbv2-0.35-224": (lambda: mobilenet_v2(0.35, 224), (3, 224, 224), 10),
    "resnet-8": (lambda: cifar_resnet(1), (3, 32, 32), 10),
    "resnet-20": (lambda: cifar_resnet(3), (3, 32, 32), 10),
    "ds-cnn": (ds_cnn, (1, 49, 10), 12),
}


def param_count(model: nn.Module) -> int:
    """Parameters plus BN running statistics: what Keras/tfjs countParams() counts."""
    buffers = sum(b.numel() for name, b in model.named_buffers() if not name.endswith("num_batches_tracked"))
    return sum(p.numel() for p in model.parameters()) + buffers


def macs_of(model: nn.Module, shape: tuple) -> int:
    """Multiply-adds of one sample's forward pass in the Conv2d and Linear layers (what bench-models counts)."""
    total = [0]

    def count(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            total[0] += out[0].numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
        elif isinstance(mod, nn.Linear):
            total[0] += mod.in_features * mod.out_features

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()
        model(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    return total[0]


def one_net(name: str, batch: int, batches: int, warm: int, latency_runs: int, train: bool = True) -> dict:
    """
    Training samples/s over `batches` Adam steps after `warm`, latencies at batch 1 and `batch`, peak RSS.
    Each is measured in both memory formats (NCHW and channels-last: oneDNN runs BatchNorm and
    depthwise convolutions 1.5-2x faster channels-last on this CPU) and the faster one is kept, so
    the peer is PyTorch at its best, as a user who tuned it would run it. The loop is the plain
    one (zero_grad(set_to_none=True), forward, loss, backward, step); loss.item() synchronises.
    train=False (--infer-only) times the latencies only (batch 1 and `batch`, `latency_runs` each).
    """
    import resource

    build, shape, classes = NETS[name]
    torch.manual_seed(0)
    base = build()
    macs = macs_of(base, shape)
    x0 = torch.rand(batch, *shape)
    y = torch.randint(0, classes, (batch,))
    loss_fn = nn.CrossEntropyLoss()
    best = {}
    for fmt, memory_format in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
        torch.manual_seed(0)
        model = build().to(memory_format=memory_format)
        x = x0.contiguous(memory_format=memory_format)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            loss.item()

        if train:
            for _ in range(max(warm, 2)):
                step()
        t0 = time.perf_counter()
        for _ in range(batches if train else 0):
            step()
        rate = batches * batch / (time.perf_counter() - t0) if train else 0.0
        if train and rate > best.get("train_samples_per_s", 0.0):
            best["train_samples_per_s"] = rate
            best["train_format"] = fmt
        model.eval()
        with torch.no_grad():
            for b, runs in ((1, latency_runs), (batch, latency_runs if not train else max(1, latency_runs // 4))):
                xb = torch.rand(b, *shape).contiguous(memory_format=memory_format)
                for _ in range(2):
                    model(xb).sum().item()
                times = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    model(xb).sum().item()
                    times.append((time.perf_counter() - t0) * 1000)
                key = "infer_ms_b1" if b == 1 else "infer_ms_batch"
                ms = statistics.median(times)
                if ms < best.get(key, float("inf")):
                    best[key] = ms
                    best[key + "_format"] = fmt
    return {
        "net": name,
        "params": param_count(base),
        "macs": macs,
        "batch": batch,
        **best,
        "mkldnn": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def train_rate(model: nn.Module, batches: int, rounds: int) -> float:
    """Median samples/s over `rounds` runs of `batches` Adam steps, after a warm-up step."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    # Softmax + categorical cross-entropy, as in the tfjs models (CrossEntropyLoss takes logits).
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(BATCH, 1, 28, 28)
    y = torch.randint(0, 10, (BATCH,))
    model.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        loss.item()  # synchronise, like awaiting the loss in tfjs

    step()
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(batches):
            step()
        rates.append(batches * BATCH / (time.perf_counter() - t0))
    return statistics.median(rates)


def latency_ms(model: nn.Module, batch: int, runs: int) -> float:
    model.eval()
    x = torch.rand(batch, 1, 28, 28)
    times = []
    with torch.no_grad():
        for _ in range(2):
            model(x).sum().item()
        for _ in range(runs):
            t0 = time.perf_counter()
            model(x).sum().item()
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def arg(flag: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(flag) + 1]) if flag in sys.argv else default


def main() -> None:
    threads = int(os.environ.get("TORCH_THREADS", "2"))
    if "--net" in sys.argv:
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        name = sys.argv[sys.argv.index("--net") + 1]
        out = one_net(name, arg("--batch", BATCH), arg("--batches", 10), arg("--warm", 2), arg("--latency-runs", 20), "--infer-only" not in sys.argv)
        out["threads"] = torch.get_num_threads()
        out["torch"] = torch.__version__
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
        return
    batches = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    # Which BLAS torch really loaded (Debian's torch links libblas.so.3, resolved at run time).
    torch.mm(torch.rand(8, 8), torch.rand(8, 8))
    with open("/proc/self/maps") as maps:
        blas = sorted({line.split()[-1] for line in maps if "blas" in line.lower() and ".so" in line})
    out = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "ld_library_path": os.environ.get("LD_LIBRARY_PATH", ""),
        "blas_libraries": blas,
        "batch": BATCH,
        "models": {},
    }
    for name, build in MODELS.items():
        model = build()
        out["models"][name] = {
            "train_samples_per_s": train_rate(model, batches, rounds),
            "infer_ms_b1": latency_ms(model, 1, 50),
            "infer_ms_b64": latency_ms(model, 64, 20),
        }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
