"""One training epoch on the CPU: gpunn vs a PyTorch loop vs a hand-written NumPy loop, side by side.

Same model, same data, same batch, same optimizer (Adam), same thread count for every contender; each is
warmed up, then the three take turns for ``--repeats`` rounds and the median epoch time counts.

    python bench/cpu_epoch.py                     # 784-128-128-10 batch 128 and 784-1024-1024-10 batch 512
    python bench/cpu_epoch.py --output bench/results/cpu_epoch.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

CASES = [((784, 128, 128, 10), 128, 60000), ((784, 1024, 1024, 10), 512, 60000)]
SETTLE_S = 0.5


def make_data(n, d, classes, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32)
    y = rng.integers(0, classes, n)
    return x, y


class GpunnEpoch:
    name = "gpunn"

    def __init__(self, sizes, batch, x, y):
        import gpunn

        gpunn.set_backend("numpy")
        gpunn.utils.set_random_seed(0)
        self.model = gpunn.Sequential([gpunn.Input(shape=(sizes[0],))]
                                      + [gpunn.layers.Dense(s, activation="relu") for s in sizes[1:-1]]
                                      + [gpunn.layers.Dense(sizes[-1], activation="softmax")])
        self.model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        self.batch, self.x, self.y = batch, x, y

    def __call__(self):
        self.model.fit(self.x, self.y, batch_size=self.batch, epochs=1, verbose=0)

    def check(self):
        return self.model.evaluate(self.x[:2048], self.y[:2048], verbose=0)[0]


class TorchEpoch:
    name = "pytorch"

    def __init__(self, sizes, batch, x, y):
        import torch

        torch.manual_seed(0)
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        self.torch = torch
        self.model = torch.nn.Sequential(*layers[:-1])
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, eps=1e-7)
        self.loss = torch.nn.CrossEntropyLoss()
        self.x, self.y, self.batch = torch.from_numpy(x), torch.from_numpy(y), batch

    def __call__(self):
        torch, n = self.torch, len(self.x)
        perm = torch.randperm(n)
        for i in range(0, n, self.batch):
            idx = perm[i:i + self.batch]
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss(self.model(self.x[idx]), self.y[idx])
            loss.backward()
            self.opt.step()

    def check(self):
        with self.torch.no_grad():
            return float(self.loss(self.model(self.x[:2048]), self.y[:2048]))


class NumpyEpoch:
    """The loop a careful person writes by hand: in-place ops, one flat buffer, Keras's Adam."""

    name = "numpy-by-hand"

    def __init__(self, sizes, batch, x, y):
        rng = np.random.default_rng(0)
        shapes = [((a, b), (b,)) for a, b in zip(sizes[:-1], sizes[1:])]
        total = sum(a * b + b for (a, b), _ in shapes)
        self.p, self.g = np.zeros(total, np.float32), np.zeros(total, np.float32)
        self.m, self.v = np.zeros_like(self.p), np.zeros_like(self.p)
        self.layers, o = [], 0
        for (a, b), _ in shapes:
            W, gW = self.p[o:o + a * b].reshape(a, b), self.g[o:o + a * b].reshape(a, b)
            W[...] = rng.uniform(-1, 1, (a, b)) * np.sqrt(6 / (a + b))
            o += a * b
            self.layers.append((W, self.p[o:o + b], gW, self.g[o:o + b]))
            o += b
        self.x, self.y, self.batch, self.t, self.rng = x, y, batch, 0, rng

    def step(self, xb, yb):
        acts, h = [xb], xb
        for j, (W, b, _, _) in enumerate(self.layers):
            h = h @ W
            h += b
            if j < len(self.layers) - 1:
                np.maximum(h, 0, out=h)
            acts.append(h)
        z = acts.pop()
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        n = len(yb)
        z[np.arange(n), yb] -= 1.0
        z /= n
        d = z
        for j in range(len(self.layers) - 1, -1, -1):
            W, _, gW, gb = self.layers[j]
            np.matmul(acts[j].T, d, out=gW)
            d.sum(axis=0, out=gb)
            if j:
                d = d @ W.T
                d *= acts[j] > 0
        self.t += 1
        b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-7
        alpha = lr * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        self.m += (self.g - self.m) * (1 - b1)
        np.square(self.g, out=self.g)
        self.v += (self.g - self.v) * (1 - b2)
        denom = np.sqrt(self.v)
        denom += eps
        np.divide(self.m, denom, out=denom)
        denom *= alpha
        self.p -= denom

    def __call__(self):
        n = len(self.x)
        perm = self.rng.permutation(n)
        for i in range(0, n, self.batch):
            idx = perm[i:i + self.batch]
            self.step(np.take(self.x, idx, axis=0), self.y[idx])

    def check(self):
        h = self.x[:2048]
        for j, (W, b, _, _) in enumerate(self.layers):
            h = h @ W + b
            if j < len(self.layers) - 1:
                h = np.maximum(h, 0)
        h = h - h.max(1, keepdims=True)
        logp = h - np.log(np.exp(h).sum(1, keepdims=True))
        return float(-logp[np.arange(len(h)), self.y[:2048]].mean())


def run_case(sizes, batch, n, repeats, threads):
    x, y = make_data(n, sizes[0], sizes[-1])
    contenders = [GpunnEpoch(sizes, batch, x, y), NumpyEpoch(sizes, batch, x, y)]
    try:
        import torch

        torch.set_num_threads(threads)
        contenders.append(TorchEpoch(sizes, batch, x, y))
    except ImportError:
        print("  (PyTorch not installed: no PyTorch column)")
    times = {c.name: [] for c in contenders}
    for c in contenders:  # warm-up epoch; also proves each one trains (loss must fall below chance)
        c()
        loss = c.check()
        if not np.isfinite(loss):
            raise RuntimeError(f"{c.name}: non-finite loss after one epoch")
    for _ in range(repeats):
        for c in contenders:
            # BLAS and OpenMP worker threads spin for a while after their last call; a contender started in
            # that window shares the cores with them. A pause lets the previous contender's threads sleep.
            time.sleep(SETTLE_S)
            t0 = time.perf_counter()
            c()
            times[c.name].append(time.perf_counter() - t0)
    result = {"sizes": list(sizes), "batch": batch, "samples": n, "repeats": repeats, "contenders": {}}
    for name, ts in times.items():
        med = statistics.median(ts)
        result["contenders"][name] = {"median_s": med, "min_s": min(ts), "max_s": max(ts),
                                      "samples_per_s": n / med}
    g = result["contenders"]["gpunn"]["samples_per_s"]
    result["gpunn_over_numpy_by_hand"] = g / result["contenders"]["numpy-by-hand"]["samples_per_s"]
    if "pytorch" in result["contenders"]:
        result["gpunn_over_pytorch"] = g / result["contenders"]["pytorch"]["samples_per_s"]
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--output", default=None, help="write the results as JSON here")
    ap.add_argument("--case", type=int, choices=range(len(CASES)), default=None,
                    help="run only this case (0: 784-128-128-10 batch 128, 1: 784-1024-1024-10 batch 512)")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    from gpunn.commands.info import collect

    results = []
    with threadpool_limits(limits=args.threads):
        for sizes, batch, n in (CASES if args.case is None else [CASES[args.case]]):
            label = "-".join(map(str, sizes))
            print(f"{label} batch {batch}, {n} samples, {args.threads} threads:")
            r = run_case(sizes, batch, n, args.repeats, args.threads)
            for name, c in r["contenders"].items():
                print(f"  {name:14s} {c['samples_per_s']:>10,.0f} samples/s  (median {c['median_s']:.3f} s, "
                      f"range {c['min_s']:.3f}-{c['max_s']:.3f})")
            print(f"  gpunn / numpy-by-hand = {r['gpunn_over_numpy_by_hand']:.2f}"
                  + (f", gpunn / pytorch = {r['gpunn_over_pytorch']:.2f}" if "gpunn_over_pytorch" in r else ""))
            results.append(r)
    if args.output:
        record = {"command": "python " + " ".join([sys.argv[0]] + (argv or sys.argv[1:])),
                  "date": time.strftime("%Y-%m-%d %H:%M:%S"), "threads": args.threads,
                  "machine": collect(), "cpu": platform.processor(), "results": results}
        with open(args.output, "w") as fh:
            json.dump(record, fh, indent=2, default=str)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
