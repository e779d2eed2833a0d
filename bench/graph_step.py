"""Training steps of functional graphs on the CPU: gpunn (eager, replay) vs PyTorch, and what a graph costs gpunn
over a chain of the same layers.

Two models, each on a batch staged in memory, Adam, softmax output with sparse cross-entropy:

- ``wide_deep``: Géron's wide & deep, the input read again: x(64) -> Dense(256, relu) -> Dense(256, relu),
  Concatenate([x, that]) -> Dense(10); batch 128.
- ``residual``: x(64) -> Dense(256, relu) -> two blocks of h + Dense(256, relu)(h) (``Add``) -> Dense(10);
  batch 128.
- ``aux_output``: ``wide_deep`` with a second, auxiliary output (Géron's): Dense(10) on the deep path's last
  hidden layer, its sparse cross-entropy weighted 0.3 in the loss (``loss_weights=[1.0, 0.3]``); batch 128.

Contenders: ``gpunn-eager`` (the model's training step, what ``fit`` runs per batch), ``gpunn-replay`` (the same
with ``jit_compile=True``), ``pytorch`` (zero_grad, forward, backward, step; the same graph written as a
``torch.nn.Module``), and ``gpunn-chain-replay``: the same layers with the graph's extra edges taken out (no
Concatenate of the input, no Add: a plain chain of as many Dense layers, the last as wide as the graph's), to
show what reading a value twice and merging costs (for ``aux_output``: the same model without its auxiliary
output, to show what a second output costs). Timed in blocks of ``--steps`` steps, contenders in turns
(``cpu_epoch.time_in_turns``), the median block per step.

    python bench/graph_step.py --output bench/results/graph_step.json --markdown bench/results/graph_step.md
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpu_epoch  # noqa: E402  (bench/ is not a package; the shared timing and record helpers live there)

FEATURES, WIDTH, CLASSES, BATCH = 64, 256, 10, 128
MODELS = ("wide_deep", "residual", "aux_output")
AUX_WEIGHT = 0.3
CONTENDERS = ("gpunn-eager", "gpunn-replay", "gpunn-chain-replay", "pytorch")
SETTLE_S, MAX_OTHER_CPU, WARMUP_STEPS = 0.25, 0.25, 200


def build_gpunn(kind: str, jit: bool, chain: bool = False):
    import gpunn
    from gpunn import layers

    gpunn.utils.set_random_seed(0)
    inputs = gpunn.Input(shape=(FEATURES,))
    h = layers.Dense(WIDTH, activation="relu")(inputs)
    deep = None
    if kind in ("wide_deep", "aux_output"):
        h = deep = layers.Dense(WIDTH, activation="relu")(h)
        if kind == "wide_deep":
            # the chain: the same Dense layers, the input not read again (the output Dense a little narrower)
            h = h if chain else layers.Concatenate()([inputs, h])
        else:
            h = layers.Concatenate()([inputs, h])
    else:
        for _ in range(2):
            block = layers.Dense(WIDTH, activation="relu")(h)
            h = block if chain else layers.Add()([h, block])
    output = layers.Dense(CLASSES, activation="softmax")(h)
    two = kind == "aux_output" and not chain  # the "chain" of aux_output: the same model, one output
    model = gpunn.Model(inputs, [output, layers.Dense(CLASSES, activation="softmax")(deep)] if two else output)
    model.compile(optimizer=gpunn.optimizers.Adam(cpu_epoch.LEARNING_RATE, epsilon=cpu_epoch.EPSILON),
                  loss="sparse_categorical_crossentropy", loss_weights=[1.0, AUX_WEIGHT] if two else None,
                  jit_compile=jit)
    return model


def build_torch(kind: str):
    import torch

    torch.manual_seed(0)

    class WideDeep(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.h1, self.h2 = torch.nn.Linear(FEATURES, WIDTH), torch.nn.Linear(WIDTH, WIDTH)
            self.out = torch.nn.Linear(FEATURES + WIDTH, CLASSES)

        def forward(self, x):
            h = torch.relu(self.h2(torch.relu(self.h1(x))))
            return self.out(torch.cat([x, h], dim=1))

    class Residual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.first = torch.nn.Linear(FEATURES, WIDTH)
            self.blocks = torch.nn.ModuleList([torch.nn.Linear(WIDTH, WIDTH) for _ in range(2)])
            self.out = torch.nn.Linear(WIDTH, CLASSES)

        def forward(self, x):
            h = torch.relu(self.first(x))
            for block in self.blocks:
                h = h + torch.relu(block(h))
            return self.out(h)

    class AuxOutput(WideDeep):
        def __init__(self):
            super().__init__()
            self.aux = torch.nn.Linear(WIDTH, CLASSES)

        def forward(self, x):
            h = torch.relu(self.h2(torch.relu(self.h1(x))))
            return self.out(torch.cat([x, h], dim=1)), self.aux(h)

    model = {"wide_deep": WideDeep, "residual": Residual, "aux_output": AuxOutput}[kind]()
    optimizer = torch.optim.Adam(model.parameters(), lr=cpu_epoch.LEARNING_RATE, eps=cpu_epoch.EPSILON)
    cross_entropy = torch.nn.CrossEntropyLoss()
    if kind != "aux_output":
        return model, optimizer, cross_entropy

    def loss(outputs, y):
        main, aux = outputs
        return cross_entropy(main, y) + AUX_WEIGHT * cross_entropy(aux, y)

    return model, optimizer, loss


class GpunnSteps:
    def __init__(self, name, kind, x, y):
        self.name = name
        model = build_gpunn(kind, jit="replay" in name, chain="chain" in name)
        x, y = model._prepare(x, [y, y] if model._several_outputs else y)  # the same labels for both outputs
        self.step = model.make_train_function().prepare(model._sparse_labels(y))
        self.slot = self.step.slot(len(x), len(x), y.shape[1:], y.dtype, weights_shape=None)
        model.ops.upload(x, self.slot.x)
        model.ops.upload(y, self.slot.y)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step(self.slot)


class TorchSteps:
    name = "pytorch"

    def __init__(self, kind, x, y):
        import torch

        self.model, self.opt, self.loss = build_torch(kind)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.opt.zero_grad(set_to_none=True)
            self.loss(self.model(self.x), self.y).backward()
            self.opt.step()


class Block:
    def __init__(self, contender, steps: int):
        self.contender, self.steps, self.name = contender, steps, contender.name

    def __call__(self):
        self.contender.run(self.steps)


def time_model(kind, names, steps, repeats, threads) -> dict:
    x, y = cpu_epoch.make_data(BATCH, FEATURES, CLASSES)
    contenders = [TorchSteps(kind, x, y) if name == "pytorch" else GpunnSteps(name, kind, x, y) for name in names]
    for contender in contenders:
        contender.run(WARMUP_STEPS)
    cpu_epoch.limit_pools_loaded_since(threads)
    times, log = cpu_epoch.time_in_turns([Block(c, steps) for c in contenders], repeats, SETTLE_S, MAX_OTHER_CPU,
                                         repeats)
    per_step = {}
    for name, seconds in times.items():
        us = [t / steps * 1e6 for t in seconds]
        per_step[name] = {"median_us": statistics.median(us), "min_us": min(us), "max_us": max(us),
                          "other_cpu": log["other_cpu"][name]}
    medians = {name: v["median_us"] for name, v in per_step.items()}
    ratios = {f"{a}/{b}": medians[b] / medians[a] for a in ("gpunn-replay", "gpunn-eager") if a in medians
              for b in ("pytorch", "gpunn-chain-replay") if b in medians}
    return {"per_step": per_step, "ratios": ratios, "dropped_rounds": log["dropped_rounds"]}


def markdown(record: dict) -> str:
    lines = ["# Training steps of functional graphs: gpunn (eager, replay) vs PyTorch, and a graph vs its chain", "",
             "Written by `bench/graph_step.py` from `graph_step.json`. A batch of 128 staged in memory, Adam, softmax "
             "output with sparse cross-entropy. `wide_deep`: x(64) -> Dense(256, relu) -> Dense(256, relu), "
             "Concatenate([x, h]) -> Dense(10). `residual`: x(64) -> Dense(256, relu), two blocks h + Dense(256, "
             "relu)(h), -> Dense(10). `aux_output`: `wide_deep` with a second output, Dense(10) on the deep path, its "
             f"loss weighted {AUX_WEIGHT}. `gpunn-chain-replay`: the same Dense layers without the graph's extra "
             "edges (no Concatenate with the input, no Add; for `aux_output`, the model without its second output). "
             "Ratios: the other's time over the first's (above 1: the "
             "first is faster).", "", f"Command: `{record['command']}`", ""] + cpu_epoch.machine_lines(record)
    for kind in MODELS:
        part = record["models"][kind]
        lines += ["", f"## {kind}", "", f"Median of {record['repeats']} blocks of {record['steps']} steps.", "",
                  "| contender | us per step | range |", "|---|---:|---:|"]
        lines += [f"| {name} | {v['median_us']:.1f} | {v['min_us']:.1f}-{v['max_us']:.1f} |"
                  for name, v in part["per_step"].items()]
        lines += ["", "Ratios: " + ", ".join(f"{k} = {v:.2f}" for k, v in part["ratios"].items()) + "."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=500, help="steps per timed block")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--output", default=None, help="write the results as JSON here")
    ap.add_argument("--markdown", default=None, help="write a summary here (the notes after its marker are kept)")
    args = ap.parse_args(argv)
    xla_setting = cpu_epoch.limit_xla_threads(args.threads)
    from threadpoolctl import threadpool_limits

    names = [n for n in CONTENDERS if n.startswith("gpunn") or n in cpu_epoch.available_contenders({n})]
    if "pytorch" in names:
        import torch

        torch.set_num_threads(args.threads)
    record = {"command": cpu_epoch.command_line(argv), "steps": args.steps, "repeats": args.repeats, "models": {}}
    with threadpool_limits(limits=args.threads):
        for kind in MODELS:
            record["models"][kind] = part = time_model(kind, names, args.steps, args.repeats, args.threads)
            print(kind, {n: round(v["median_us"], 1) for n, v in part["per_step"].items()},
                  {k: round(v, 2) for k, v in part["ratios"].items()}, flush=True)
        record.update(cpu_epoch.machine_record(args.threads, names, xla_setting))
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(record, fh, indent=2, default=str)
    if args.markdown:
        cpu_epoch.write_markdown(args.markdown, markdown(record))


if __name__ == "__main__":
    main()
