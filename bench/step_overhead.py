"""Host time per training step where the arithmetic is nearly nothing, and where a gpunn step's time goes.

1. Steps on a batch already in memory, tiny MLP 32-32-32-4 at batch 32 with Adam: gpunn eager, gpunn replaying
   its recorded step (``jit_compile=True``), PyTorch (zero_grad/forward/backward/step), JAX (one jitted step,
   parameters and Adam state donated). Timed in blocks of ``--steps`` steps, contenders in turns, ``--repeats``
   rounds; the median block gives microseconds per step.
2. The same model through a whole shuffled epoch of ``--steps`` batches (``bench/cpu_epoch.py``'s contenders:
   ``fit`` for gpunn, the batch gather inside each loop), per step: what the epoch loop adds to a step.
3. A profile of one gpunn step (tiny; 784-128-128-10 at batch 128; 784-1024-1024-10 at batch 512), eager and
   replay: every primitive of the recorded step timed on its own (matmuls, the fused element-wise steps, the
   optimizer update, the loss sums), the rest being Python; and cProfile's top functions.

    python bench/step_overhead.py --output bench/results/step_overhead.json --markdown bench/results/step_overhead.md
    python bench/step_overhead.py --steps 500 --repeats 3          # a quick look, nothing written
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpu_epoch  # noqa: E402  (bench/ is not a package; the shared contenders and record helpers live there)

TINY = ((32, 32, 32, 4), 32)
PROFILED = {"tiny": TINY, "small": ((784, 128, 128, 10), 128), "large": ((784, 1024, 1024, 10), 512)}
PROFILE_STEPS = {"tiny": 1000, "small": 300, "large": 40}  # per block: about 0.1-0.8 s each
STAGED = ("gpunn-eager", "gpunn-replay", "pytorch", "jax")
SETTLE_S = 0.25
MAX_OTHER_CPU = 0.25  # cores other processes may use during a block before its round is run again
WARMUP_STEPS = 200
# What each recorded primitive is, for the profile's summary
CATEGORIES = {"matmul": "matmul (BLAS)",
              "bias_act_forward": "fused element-wise", "act_backward_bias_grad": "fused element-wise",
              "softmax_xent": "fused element-wise", "softmax": "fused element-wise",
              "sigmoid_bce": "fused element-wise", "dropout_forward": "fused element-wise",
              "dropout_backward": "fused element-wise",
              "advance_optimizer_state": "optimizer update", "adam_update": "optimizer update"}
OTHER_CATEGORY = "loss and metric sums"


# ---- steps on a staged batch ---------------------------------------------------------------------------
class GpunnStagedStep:
    """gpunn's own training step (what ``fit`` runs per batch) on a batch staged in its input buffers once."""

    def __init__(self, sizes, batch, x, y, jit: bool):
        self.name = "gpunn-replay" if jit else "gpunn-eager"
        # No metric: the other contenders compute the loss only. The running loss sum stays (it is the step's).
        self.model = model = cpu_epoch.build_gpunn_mlp(sizes, jit, metrics=())
        x, y = model._prepare(x, y)  # builds the model and converts the data as fit does
        self.train_step = model.make_train_function().prepare(sparse_labels=True)
        self.slot = self.train_step.slot(len(x), len(x), y.shape[1:], y.dtype, weights_shape=None)
        model.ops.upload(x, self.slot.x)
        model.ops.upload(y, self.slot.y)

    def run(self, steps: int) -> None:
        train_step, slot = self.train_step, self.slot
        for _ in range(steps):
            train_step(slot)

    def step(self) -> None:
        self.train_step(self.slot)


class TorchStagedStep:
    name = "pytorch"

    def __init__(self, sizes, batch, x, y):
        import torch

        self.model, self.opt, self.loss = cpu_epoch.build_torch_mlp(sizes)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)

    def run(self, steps: int) -> None:
        model, opt, loss_fn, x, y = self.model, self.opt, self.loss, self.x, self.y
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()


class JaxStagedStep:
    name = "jax"

    def __init__(self, sizes, batch, x, y):
        import jax

        self.jax = jax
        self.params, loss_fn, optimizer = cpu_epoch.jax_mlp(sizes)
        self.opt_state = optimizer.init(self.params)
        self.step = cpu_epoch.jax_train_step(loss_fn, optimizer, gather=False)
        self.x, self.y = jax.device_put(x), jax.device_put(y.astype(np.int32))

    def run(self, steps: int) -> None:
        params, opt_state, step, x, y = self.params, self.opt_state, self.step, self.x, self.y
        for _ in range(steps):
            params, opt_state, _ = step(params, opt_state, x, y)
        # dispatch is asynchronous: the block ends when the last step has finished
        self.params, self.opt_state = self.jax.block_until_ready((params, opt_state))


def make_staged(name, sizes, batch, x, y):
    if name.startswith("gpunn"):
        return GpunnStagedStep(sizes, batch, x, y, jit=name == "gpunn-replay")
    return {"pytorch": TorchStagedStep, "jax": JaxStagedStep}[name](sizes, batch, x, y)


class Block:
    """``steps`` steps of a contender as one timed call (cpu_epoch.time_in_turns times calls)."""

    def __init__(self, contender, steps: int):
        self.contender, self.steps, self.name = contender, steps, contender.name

    def __call__(self):
        self.contender.run(self.steps)


def per_step_summary(times, steps, log=None, name=None) -> dict:
    us = [t / steps * 1e6 for t in times]
    summary = {"median_us": statistics.median(us), "min_us": min(us), "max_us": max(us), "blocks_us": us}
    if log is not None:
        summary["other_cpu"] = log["other_cpu"][name]
    return summary


def time_staged_steps(names, steps, repeats, threads):
    sizes, batch = TINY
    x, y = cpu_epoch.make_data(batch, sizes[0], sizes[-1])
    contenders = [make_staged(name, sizes, batch, x, y) for name in names]
    for c in contenders:
        c.run(WARMUP_STEPS)  # JAX compiles, gpunn records, BLAS and the allocators settle
    cpu_epoch.limit_pools_loaded_since(threads)
    times, log = cpu_epoch.time_in_turns([Block(c, steps) for c in contenders], repeats, SETTLE_S,
                                         MAX_OTHER_CPU, repeats)
    return {name: per_step_summary(ts, steps, log, name) for name, ts in times.items()}, log["dropped_rounds"]


def time_fit_epochs(names, steps, repeats, threads):
    """Per step of a shuffled epoch of ``steps`` batches (cpu_epoch's contenders, JAX's gather inside its jit)."""
    sizes, batch = TINY
    x, y = cpu_epoch.make_data(steps * batch, sizes[0], sizes[-1])
    contenders = [cpu_epoch.make_epoch_contender(name, sizes, batch, x, y) for name in names]
    for c in contenders:
        c()
    cpu_epoch.limit_pools_loaded_since(threads)
    times, log = cpu_epoch.time_in_turns(contenders, repeats, SETTLE_S, MAX_OTHER_CPU, repeats)
    return {name: per_step_summary(ts, steps, log, name) for name, ts in times.items()}, log["dropped_rounds"]


def ratio_table(summary: dict, numerators, denominators) -> dict:
    """Speed ratios from per-step medians: 'a/b' = b's time over a's (above 1: a is faster)."""
    return {f"{a}/{b}": summary[b]["median_us"] / summary[a]["median_us"]
            for a in numerators if a in summary for b in denominators if b in summary and b != a}


# ---- the profile of one gpunn step ---------------------------------------------------------------------
def record_eager_step(contender: GpunnStagedStep):
    """The primitives one eager step calls, bound to its buffers (the recording jit_compile=True makes)."""
    from gpunn.ops.recording import Recording

    with Recording(contender.model.ops) as tape:
        contender.train_step(contender.slot)
    return tape


def primitive_name(bound) -> str:
    return getattr(getattr(bound, "func", bound), "__name__", repr(bound))


class TimedCalls:
    """The recorded calls run in their order, each timed on its own (a timed replay: each call sees the inputs
    it would see in a real step). Runs in turns with the step blocks, so that all see the same load; the
    clock costs about 0.1 us per call."""

    def __init__(self, name, calls):
        self.name, self.calls = name, calls
        self.samples = [[] for _ in calls]

    def run(self, steps: int) -> None:
        clock, calls, samples = time.perf_counter, self.calls, self.samples
        for _ in range(steps):
            for k, call in enumerate(calls):
                t0 = clock()
                call()
                samples[k].append(clock() - t0)

    def medians(self):
        return [statistics.median(s) for s in self.samples]


class TimedSteps:
    """A gpunn contender's steps, each timed on its own: the median step, like the primitives' medians, leaves
    out the steps that another process interrupted (block times include them)."""

    def __init__(self, contender):
        self.contender, self.name, self.samples = contender, contender.name, []

    def run(self, steps: int) -> None:
        clock, step, samples = time.perf_counter, self.contender.step, self.samples
        for _ in range(steps):
            t0 = clock()
            step()
            samples.append(clock() - t0)


def one_pass_seconds(array, repeats=200) -> float:
    """One NumPy ufunc pass over ``array`` (read it, write a same-sized buffer): the unit for element-wise work.
    On small arrays this is mostly the ufunc's call overhead."""
    out = np.empty_like(array)
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.multiply(array, 1.0, out=out)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def largest_array(bound):
    values = getattr(bound, "operands", None) or tuple(bound.args) + tuple(bound.keywords.values())
    arrays = [a for a in values if isinstance(a, np.ndarray)]
    return max(arrays, key=lambda a: a.size) if arrays else None


def matmul_flops(bound) -> float:
    if hasattr(bound, "flops"):  # an MKL product prepared for replays (gpunn/ops/mkl_gemm.py)
        return bound.flops
    a, b = [x for x in bound.args if isinstance(x, np.ndarray)][:2]  # (ops, a, b) or numpy.matmul's (a, b)
    return 2.0 * a.shape[0] * a.shape[1] * b.shape[1]


def kernel_table(calls, seconds) -> list[dict]:
    """One row per primitive name: calls per step, microseconds per step, and the work measure that fits it
    (GFLOP/s for matmuls, NumPy-pass equivalents for element-wise steps)."""
    rows = {}
    for bound, s in zip(calls, seconds):
        name = primitive_name(bound)
        row = rows.setdefault(name, {"primitive": name, "category": CATEGORIES.get(name, OTHER_CATEGORY),
                                     "calls": 0, "us": 0.0, "flops": 0.0, "pass_us": 0.0})
        row["calls"] += 1
        row["us"] += s * 1e6
        if name == "matmul":
            row["flops"] += matmul_flops(bound)
        elif row["category"] == "fused element-wise" or name.endswith("_update"):  # passes over buffers
            array = largest_array(bound)
            row["pass_us"] += one_pass_seconds(array) * 1e6 if array is not None else 0.0
    for row in rows.values():
        flops, pass_us = row.pop("flops"), row.pop("pass_us")
        if flops:
            row["gflop_per_s"] = flops / row["us"] / 1e3
        if pass_us:
            row["pass_equivalents_per_call"] = row["us"] / pass_us
    return sorted(rows.values(), key=lambda r: -r["us"])


def compiled_fused_calls(calls):
    """The recorded calls with each fused element-wise step sent to the compiled CPU version (Numba,
    ``gpunn.kernels.cpu_fused()``) where one exists and the backend does not use it yet; None without it."""
    import functools

    from gpunn.kernels import cpu_fused

    fused = cpu_fused()
    if fused is None:
        return None
    fused.warm_up(np.float32)
    swapped = []
    for bound in calls:
        name = primitive_name(bound)
        if CATEGORIES.get(name) == "fused element-wise" and hasattr(fused, name):
            bound = functools.partial(getattr(fused, name), *bound.args[1:], **bound.keywords)
        swapped.append(bound)
    return swapped


def cprofile_top(run, steps: int, top: int) -> dict:
    """cProfile's view of ``steps`` steps: per step, the functions with the most own time. The profiler's
    hook costs time on every Python call, so absolute figures are inflated; the shares are what it shows."""
    profiler = cProfile.Profile()
    profiler.enable()
    run(steps)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    rows = []
    for (filename, line, function), (_, ncalls, tottime, cumtime, _) in stats.items():
        if function == "disable" and "lsprof" in repr(filename) + function:
            continue
        rows.append({"function": short_location(filename, line, function), "calls_per_step": ncalls / steps,
                     "own_us_per_step": tottime / steps * 1e6, "total_us_per_step": cumtime / steps * 1e6})
    rows.sort(key=lambda r: -r["own_us_per_step"])
    total = sum(r["own_us_per_step"] for r in rows)
    return {"steps": steps, "profiled_us_per_step": total, "top": rows[:top]}


def short_location(filename: str, line: int, function: str) -> str:
    if filename == "~":  # a built-in: cProfile names it in the function field
        return function
    for marker in ("site-packages/", "/gpunn/", "/bench/"):
        if marker in filename:
            filename = filename[filename.index(marker) + len(marker):]
            if marker == "/gpunn/":
                filename = "gpunn/" + filename
            break
    return f"{filename}:{line}({function})"


def profile_case(label, sizes, batch, steps, repeats, top, preview_fused, available, threads):
    x, y = cpu_epoch.make_data(batch, sizes[0], sizes[-1])
    eager = GpunnStagedStep(sizes, batch, x, y, jit=False)
    replay = GpunnStagedStep(sizes, batch, x, y, jit=True)
    calls = [bound for bound, _kind in record_eager_step(eager).calls]
    timed = [TimedCalls("primitives", calls)]
    if preview_fused:
        swapped = compiled_fused_calls(calls)
        if swapped is not None:
            timed.append(TimedCalls("compiled-fused", swapped))
    for c in [eager, replay] + timed:
        c.run(WARMUP_STEPS // 4)
    for t in timed:
        t.samples = [[] for _ in t.calls]
    stepped = [TimedSteps(eager), TimedSteps(replay)]
    # The other libraries' step on the same case, for scale (their blocks' medians: JAX's dispatch is
    # asynchronous, so single JAX steps cannot be timed without a synchronisation each)
    others = [make_staged(name, sizes, batch, x, y) for name in STAGED[2:] if name in available]
    for c in others:
        c.run(WARMUP_STEPS // 4)
    cpu_epoch.limit_pools_loaded_since(threads)
    # No round is run again here: the timed steps and calls keep every sample (their medians ignore the
    # interrupted ones)
    times, _ = cpu_epoch.time_in_turns([Block(c, steps) for c in stepped + timed + others], repeats, SETTLE_S)
    step_us = {c.name: statistics.median(c.samples) * 1e6 for c in stepped}
    block_us = {name: per_step_summary(times[name], steps)["median_us"] for name in
                [c.name for c in stepped + others]}
    table = kernel_table(calls, timed[0].medians())
    kernels_us = sum(r["us"] for r in table)
    by_category = {}
    for row in table:
        by_category[row["category"]] = by_category.get(row["category"], 0.0) + row["us"]
    result = {"case": label, "sizes": list(sizes), "batch": batch, "eager_us": step_us["gpunn-eager"],
              "replay_us": step_us["gpunn-replay"], "block_median_us": block_us,
              "primitives_per_step": len(calls), "kernels_us": kernels_us,
              "by_category_us": by_category, "python_eager_us": step_us["gpunn-eager"] - kernels_us,
              "python_replay_us": step_us["gpunn-replay"] - kernels_us, "kernels": table,
              "cprofile": {"eager": cprofile_top(eager.run, steps, top),
                           "replay": cprofile_top(replay.run, steps, top)}}
    if len(timed) > 1:
        fused_table = kernel_table(timed[1].calls, timed[1].medians())
        result["compiled_fused_preview"] = {"kernels_us": sum(r["us"] for r in fused_table), "kernels": fused_table}
    return result


# ---- the report ----------------------------------------------------------------------------------------
def staged_markdown(record) -> list[str]:
    s = record["staged_step"]
    lines = ["## 1. One step on a staged batch: 32-32-32-4, batch 32, Adam", "",
             f"Median of {record['repeats']} blocks of {record['steps']} steps each (range over the blocks).", "",
             "| contender | us per step | range |", "|---|---:|---:|"]
    lines += per_step_rows(s)
    lines += [other_cpu_line(s), "", "Ratios (the other's time over the first's; above 1: the first is faster): "
              + ", ".join(f"{k} = {v:.2f}" for k, v in s["ratios"].items()) + ".", ""]
    f = record.get("fit_epoch")
    if f:
        lines += [f"## 2. The same model through `fit`: a shuffled epoch of {record['steps']} batches, per step", "",
                  "| contender | us per step | range |", "|---|---:|---:|"]
        lines += per_step_rows(f)
        lines += [other_cpu_line(f), "", "Ratios: " + ", ".join(f"{k} = {v:.2f}" for k, v in f["ratios"].items())
                  + ".", ""]
    return lines


def per_step_rows(part) -> list[str]:
    return [f"| {name} | {v['median_us']:.1f} | {v['min_us']:.1f}-{v['max_us']:.1f} |"
            for name, v in part["per_step"].items()]


def other_cpu_line(part) -> str:
    worst = max((v for c in part["per_step"].values() for v in c.get("other_cpu", []) if v is not None), default=None)
    return ("" if worst is None else
            f"\nOther processes: {len(part.get('dropped_rounds', []))} rounds run again (others above "
            f"{MAX_OTHER_CPU} cores in a block); at most {worst:.2f} cores in a kept block.")


def profile_markdown(p) -> list[str]:
    label = f"{'-'.join(map(str, p['sizes']))}, batch {p['batch']}"
    lines = [f"### {p['case']}: {label}", "",
             f"Step: eager {p['eager_us']:.1f} us, replay {p['replay_us']:.1f} us; the {p['primitives_per_step']} "
             f"primitives of the step, each timed on its own in a replay, sum to {p['kernels_us']:.1f} us. The rest "
             f"is Python: {p['python_eager_us']:.1f} us eager ({p['python_eager_us'] / p['eager_us']:.0%}), "
             f"{p['python_replay_us']:.1f} us replay ({p['python_replay_us'] / p['replay_us']:.0%}). "
             "Steps timed one by one (medians); in blocks, in the same turns, per step: "
             + ", ".join(f"{name} {us:.1f} us" for name, us in p["block_median_us"].items()) + ".", "",
             "| where | us per step | share of eager | share of replay |", "|---|---:|---:|---:|"]
    rows = list(p["by_category_us"].items()) + [("Python (step logic; replay: the loop over the calls)", None)]
    for name, us in rows:
        if us is None:
            eager, replay = p["python_eager_us"], p["python_replay_us"]
            lines.append(f"| Python, eager | {eager:.1f} | {eager / p['eager_us']:.0%} | |")
            lines.append(f"| Python, replay | {replay:.1f} | | {replay / p['replay_us']:.0%} |")
        else:
            lines.append(f"| {name} | {us:.1f} | {us / p['eager_us']:.0%} | {us / p['replay_us']:.0%} |")
    lines += ["", "| primitive | calls | us per step | us per call | GFLOP/s or NumPy-pass equivalents per call |",
              "|---|---:|---:|---:|---:|"]
    for r in p["kernels"]:
        passes = r.get("pass_equivalents_per_call") if r["category"] == "fused element-wise" or \
            r["primitive"].endswith("_update") else None
        work = (f"{r['gflop_per_s']:.1f} GFLOP/s" if "gflop_per_s" in r else
                f"{passes:.1f} passes" if passes is not None else "")
        lines.append(f"| {r['primitive']} | {r['calls']} | {r['us']:.1f} | {r['us'] / r['calls']:.2f} | {work} |")
    preview = p.get("compiled_fused_preview")
    if preview:
        fused = {r["primitive"]: r for r in preview["kernels"] if r["category"] == "fused element-wise"}
        lines += ["", "With the compiled fused steps (`gpunn.kernels.cpu_fused()`, Numba) in place of the twins, "
                  f"timed the same way: primitives sum to {preview['kernels_us']:.1f} us "
                  f"(twins: {p['kernels_us']:.1f} us); " + ", ".join(
                      f"{name} {r['us']:.1f} us" for name, r in fused.items()) + "."]
    for mode in ("eager", "replay"):
        prof = p["cprofile"][mode]
        lines += ["", f"cProfile, {mode} ({prof['profiled_us_per_step']:.0f} us per step under the profiler), "
                  "functions by own time per step:", "", "| function | calls per step | own us | total us |",
                  "|---|---:|---:|---:|"]
        lines += [f"| `{r['function']}` | {r['calls_per_step']:.0f} | {r['own_us_per_step']:.1f} | "
                  f"{r['total_us_per_step']:.1f} |" for r in prof["top"]]
    return lines + [""]


def overhead_markdown(record) -> str:
    lines = ["# Host time per training step: gpunn eager vs replay (jit_compile=True) vs PyTorch vs JAX", "",
             "Written by `bench/step_overhead.py` from the run recorded in `step_overhead.json`. A tiny MLP "
             "(32-32-32-4, relu, softmax output, sparse cross-entropy, Adam lr 1e-3 eps 1e-7) at batch 32 does "
             "almost no arithmetic, so its step time is the host's time per step. `gpunn-eager`: the model's "
             "training step (`make_train_function()`, what `fit` runs per batch) on a batch staged in its input "
             "buffers; `gpunn-replay`: the same with `jit_compile=True` (the first step recorded, later ones "
             "replayed); `pytorch`: `zero_grad(set_to_none=True)`, forward, `CrossEntropyLoss`, `backward`, "
             "`Adam.step` (default implementation); `jax`: one `jax.jit` step (value_and_grad, optax Adam, "
             "parameters and optimizer state donated), `block_until_ready` after each block. No metrics: all "
             "four compute the loss only.", "",
             f"Command: `{record['command']}`", ""] + cpu_epoch.machine_lines(record) + [""]
    lines += staged_markdown(record)
    if record.get("profiles"):
        lines += ["## 3. Where a gpunn step's time goes", "",
                  "Each primitive of one recorded step (what `jit_compile=True` replays) timed on its own, in "
                  "order, median over the steps; the step's time minus their sum is Python. 'NumPy-pass "
                  "equivalents': the primitive's time over one NumPy ufunc pass (`np.multiply(a, 1.0, out=b)`) on "
                  "its largest array; on small arrays a pass is mostly the ufunc's call overhead, so this is "
                  "about the number of NumPy calls the twin makes.", ""]
        for p in record["profiles"]:
            lines += profile_markdown(p)
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000, help="steps per timed block (and batches per epoch)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--profile", default="tiny,small,large",
                    help="cases to profile, of tiny,small,large ('' for none)")
    ap.add_argument("--profile-top", type=int, default=12, help="cProfile rows per mode")
    ap.add_argument("--no-fit", action="store_true", help="skip the fit-epoch timing")
    ap.add_argument("--preview-compiled-fused", action="store_true",
                    help="also time the profiled steps with the compiled fused CPU steps in place of the twins")
    ap.add_argument("--output", default=None, help="write the results as JSON here")
    ap.add_argument("--markdown", default=None, help="write a summary here (the notes after its marker are kept)")
    ap.add_argument("--from-json", default=None,
                    help="measure nothing: write --markdown from this earlier --output record")
    args = ap.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as fh:
            record = json.load(fh)
        cpu_epoch.write_markdown(args.markdown or ap.error("--from-json needs --markdown"), overhead_markdown(record))
        return
    xla_setting = cpu_epoch.limit_xla_threads(args.threads)
    from threadpoolctl import threadpool_limits

    staged = [n for n in STAGED if n.startswith("gpunn") or n in cpu_epoch.available_contenders({n})]
    if "pytorch" in staged:
        import torch

        torch.set_num_threads(args.threads)
    record = {"command": cpu_epoch.command_line(argv), "steps": args.steps, "repeats": args.repeats}
    with threadpool_limits(limits=args.threads):
        per_step, dropped = time_staged_steps(staged, args.steps, args.repeats, args.threads)
        record["staged_step"] = {"per_step": per_step, "dropped_rounds": dropped, "ratios": ratio_table(
            per_step, ("gpunn-replay", "gpunn-eager"), ("gpunn-eager", "pytorch", "jax"))}
        print_summary("staged step", record["staged_step"])
        if not args.no_fit:
            names = cpu_epoch.available_contenders(set(cpu_epoch.CONTENDERS))
            per_step, dropped = time_fit_epochs(names, args.steps, args.repeats, args.threads)
            record["fit_epoch"] = {"per_step": per_step, "dropped_rounds": dropped, "ratios": ratio_table(
                per_step, ("gpunn-jit", "gpunn"), ("gpunn", "numpy-by-hand", "pytorch", "jax"))}
            print_summary("fit epoch", record["fit_epoch"])
        record["profiles"] = []
        for label in filter(None, args.profile.split(",")):
            sizes, batch = PROFILED[label]
            p = profile_case(label, sizes, batch, min(args.steps, PROFILE_STEPS[label]),
                             args.repeats, args.profile_top, args.preview_compiled_fused, staged, args.threads)
            print(f"profile {label}: eager {p['eager_us']:.1f} us, replay {p['replay_us']:.1f} us, primitives "
                  f"{p['kernels_us']:.1f} us " + str({k: round(v, 1) for k, v in p["by_category_us"].items()}),
                  flush=True)
            record["profiles"].append(p)
        record.update(cpu_epoch.machine_record(args.threads, staged, xla_setting))
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(record, fh, indent=2, default=str)
        print(f"wrote {args.output}")
    if args.markdown:
        cpu_epoch.write_markdown(args.markdown, overhead_markdown(record))
        print(f"wrote {args.markdown}")


def print_summary(title, part):
    print(f"{title}:", flush=True)
    for name, v in part["per_step"].items():
        print(f"  {name:14s} {v['median_us']:8.1f} us/step  (range {v['min_us']:.1f}-{v['max_us']:.1f})")
    print("  " + ", ".join(f"{k} = {v:.2f}" for k, v in part["ratios"].items()), flush=True)


if __name__ == "__main__":
    main()
