#!/usr/bin/python3
"""PyTorch side of test/bench/speed.ts: the same models, batch and optimizer, timed the same way.

Run (fair peer, see /work/shared/notes/benchmarks.md):
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 test/bench/torch_train.py
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


def train_rate(model: nn.Module, batches: int, rounds: int) -> float:
    """Median samples/s over `rounds` runs of `batches` Adam steps, after a warm-up step."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    # Softmax + categorical cross-entropy, as in the tfjs models (CrossEntropyLoss takes logits).
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(BATCH, 1, 28, 28)
    y = torch.randint(0, 10, (BATCH,))
    model.train()

    def step() -> None:
        opt.zero_grad()
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


def main() -> None:
    threads = int(os.environ.get("TORCH_THREADS", "2"))
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
