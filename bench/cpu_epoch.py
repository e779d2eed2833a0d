"""One training epoch on the CPU: gpunn (eager and jit_compile=True) vs PyTorch vs JAX vs a hand-written NumPy
loop, side by side.

Same model, same data, same batch, same optimizer (Adam, lr 1e-3, eps 1e-7), same thread count for every
contender; each is warmed up one epoch (JAX compiles there), then they take turns for ``--repeats`` rounds and
the median epoch time counts. PyTorch and JAX columns appear where they are installed.

    python bench/cpu_epoch.py                     # 784-128-128-10 batch 128 and 784-1024-1024-10 batch 512
    python bench/cpu_epoch.py --repeats 5 --output bench/results/cpu_epoch.json --markdown bench/results/cpu_epoch.md
    python bench/cpu_epoch.py --case 0 --contenders gpunn,gpunn-jit,jax
    python bench/cpu_epoch.py --trend 10 --output bench/results/cpu_epoch_trend.json \
        --markdown bench/results/cpu_epoch_trend.md    # epoch time against epochs trained (large case)

Other processes on a small machine distort multi-threaded contenders badly (a 2-thread BLAS waits for its
descheduled thread): the cores others used are measured during every epoch, a round where they passed
``--max-other-cpu`` is run again, and all of it is recorded.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

CASES = [((784, 128, 128, 10), 128, 60000), ((784, 1024, 1024, 10), 512, 60000)]
SETTLE_S = 0.5
QUIET_WAIT_S = 120.0  # the longest wait, before a round, for other processes to leave the cores
LEARNING_RATE = 1e-3
EPSILON = 1e-7  # Keras's Adam default; every contender uses it
CONTENDERS = ("gpunn", "gpunn-jit", "numpy-by-hand", "pytorch", "jax")
NOTES_MARKER = "<!-- Everything below this line is kept when the script rewrites this file. -->"


# ---- threads -------------------------------------------------------------------------------------------
def limit_xla_threads(threads: int) -> str:
    """Size XLA's CPU thread pool; must run before jax is imported (the CPU client reads it when it starts).

    In this jaxlib the pool is sized by ``PJRT_NPROC`` (else the core count); ``--xla_cpu_multi_thread_eigen=false``
    alone leaves the pool at full size (measured: per-thread CPU time of a jitted matmul), and
    ``intra_op_parallelism_threads`` is an ExecutionOptions field, not an XLA_FLAGS flag. With one thread Eigen's
    own multi-threading is switched off as well."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ["PJRT_NPROC"] = str(threads)
    if threads == 1 and "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    return f"PJRT_NPROC={threads}" + (" XLA_FLAGS=--xla_cpu_multi_thread_eigen=false" if threads == 1 else "")


def limit_pools_loaded_since(threads: int) -> None:
    """Apply the thread limit to the thread pools loaded since the run's limit was set: a warm-up epoch loads
    more (gpunn's fit brings SciPy's OpenBLAS and libgomp), and those would keep their default size."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)  # not restored: the process ends after the run


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def available_contenders(wanted) -> list[str]:
    """The wanted contenders whose library is importable, in CONTENDERS order; says which are left out."""
    needs = {"pytorch": ("torch",), "jax": ("jax", "optax")}
    chosen = []
    for name in CONTENDERS:
        if name not in wanted:
            continue
        missing = [m for m in needs.get(name, ()) if not installed(m)]
        if missing:
            print(f"  ({name}: {', '.join(missing)} not installed: no {name} column)")
        else:
            chosen.append(name)
    return chosen


def thread_settings(threads: int, names, xla_setting: str) -> dict:
    """What each contender was told, read back where the library can say."""
    settings = {}
    from threadpoolctl import threadpool_info

    blas = [f"{i.get('internal_api')} {i.get('num_threads')}" for i in threadpool_info() if i.get("user_api") == "blas"]
    for name in names:
        if name.startswith("gpunn"):
            from gpunn.ops import NumpyOps, mkl_gemm

            compiled = NumpyOps()._compiled_updates()  # the process's compiled updates, told of MKL's pool
            gemm = mkl_gemm.make()
            if compiled is not None:
                compiled.warm_up("adam_update", np.float32)  # Numba picks its threading layer on a first loop
            update = (f"Numba, up to {compiled.pool_threads()} thread(s) ({compiled.PARALLEL_MIN_ELEMENTS}+ "
                      "parameters)" if compiled is not None else "NumPy twin")
            matmul = ("MKL (GNU OpenMP, Numba's pool)" if gemm is not None and gemm.shares_numba_pool()
                      else "MKL" if gemm is not None else "NumPy")
            settings[name] = (f"BLAS (threadpoolctl): {', '.join(blas)}; matmuls: {matmul}; "
                              f"optimizer update: {update}")
        elif name == "numpy-by-hand":
            settings[name] = f"BLAS (threadpoolctl): {', '.join(blas)}"
        elif name == "pytorch":
            import torch

            settings[name] = f"torch.set_num_threads({threads}) -> get_num_threads() = {torch.get_num_threads()}"
        elif name == "jax":
            settings[name] = xla_setting
    return settings


# ---- data and models -----------------------------------------------------------------------------------
def make_data(n, d, classes, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32)
    y = rng.integers(0, classes, n)
    return x, y


def build_gpunn_mlp(sizes, jit: bool, metrics=("accuracy",)):
    """Dense relu hidden layers, softmax output, sparse CE, Adam; the same initial weights for every call."""
    import gpunn

    gpunn.set_backend("numpy")
    gpunn.utils.set_random_seed(0)
    model = gpunn.Sequential([gpunn.Input(shape=(sizes[0],))]
                             + [gpunn.layers.Dense(s, activation="relu") for s in sizes[1:-1]]
                             + [gpunn.layers.Dense(sizes[-1], activation="softmax")])
    model.compile(optimizer=gpunn.optimizers.Adam(learning_rate=LEARNING_RATE, epsilon=EPSILON),
                  loss="sparse_categorical_crossentropy", metrics=list(metrics), jit_compile=jit)
    return model


def build_torch_mlp(sizes):
    import torch

    torch.manual_seed(0)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    return model, torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=EPSILON), torch.nn.CrossEntropyLoss()


def jax_mlp(sizes, seed=0):
    """(params, loss_fn, optax Adam): Glorot-uniform kernels and zero biases as Keras, relu, softmax CE."""
    import jax
    import jax.numpy as jnp
    import optax

    rng = np.random.default_rng(seed)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (a + b))
        params.append((jnp.asarray(rng.uniform(-limit, limit, (a, b)).astype(np.float32)), jnp.zeros(b, jnp.float32)))

    def loss_fn(params, xb, yb):
        h = xb
        for w, b in params[:-1]:
            h = jax.nn.relu(h @ w + b)
        w, b = params[-1]
        return optax.softmax_cross_entropy_with_integer_labels(h @ w + b, yb).mean()

    # optax adds eps to sqrt(v_hat) and Keras to sqrt(v) with the correction folded into the step size: the same
    # work per element, values that differ by eps's placement only.
    return params, loss_fn, optax.adam(LEARNING_RATE, b1=0.9, b2=0.999, eps=EPSILON)


def jax_train_step(loss_fn, optimizer, gather: bool):
    """The whole step under one jax.jit, the parameters and Adam's state donated (updated in place).
    ``gather``: the step takes the full x, y and this batch's indices and gathers the batch itself."""
    import jax
    import optax

    def update(params, opt_state, xb, yb):
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    if gather:
        return jax.jit(lambda params, opt_state, x, y, idx: update(params, opt_state, x[idx], y[idx]),
                       donate_argnums=(0, 1))
    return jax.jit(update, donate_argnums=(0, 1))


# ---- contenders: one call = one epoch ------------------------------------------------------------------
class GpunnEpoch:
    def __init__(self, sizes, batch, x, y, jit=False):
        self.name = "gpunn-jit" if jit else "gpunn"
        self.model = build_gpunn_mlp(sizes, jit)
        self.batch, self.x, self.y = batch, x, y

    def __call__(self):
        self.model.fit(self.x, self.y, batch_size=self.batch, epochs=1, verbose=0)

    def check(self):
        return self.model.evaluate(self.x[:2048], self.y[:2048], verbose=0)[0]

    def adam_moments(self):
        slots = self.model.optimizer.slots
        return [slots["momentum"]], [slots["velocity"]]


class TorchEpoch:
    name = "pytorch"

    def __init__(self, sizes, batch, x, y):
        import torch

        self.torch = torch
        self.model, self.opt, self.loss = build_torch_mlp(sizes)
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

    def adam_moments(self):
        states = list(self.opt.state.values())
        return [s["exp_avg"].numpy() for s in states], [s["exp_avg_sq"].numpy() for s in states]


class JaxEpoch:
    """The whole step jitted, the batch gather ``x[idx]`` inside it; x and y live on the device, and each step
    gets only its slice of the epoch's permutation. The last, partial batch compiles its own step (warm-up)."""

    name = "jax"

    def __init__(self, sizes, batch, x, y):
        import jax

        self.jax = jax
        self.params, self.loss_fn, optimizer = jax_mlp(sizes)
        self.opt_state = optimizer.init(self.params)
        self.step = jax_train_step(self.loss_fn, optimizer, gather=True)
        self.x, self.y = jax.device_put(x), jax.device_put(y.astype(np.int32))
        self.batch, self.n, self.rng = batch, len(x), np.random.default_rng(0)

    def __call__(self):
        perm = self.rng.permutation(self.n).astype(np.int32)
        params, opt_state = self.params, self.opt_state
        for i in range(0, self.n, self.batch):
            params, opt_state, _ = self.step(params, opt_state, self.x, self.y, perm[i:i + self.batch])
        self.params, self.opt_state = self.jax.block_until_ready((params, opt_state))

    def check(self):
        return float(self.jax.jit(self.loss_fn)(self.params, self.x[:2048], self.y[:2048]))

    def adam_moments(self):
        adam_state = self.opt_state[0]  # optax.adam: (ScaleByAdamState(count, mu, nu), scale state)
        leaves = self.jax.tree_util.tree_leaves
        return [np.asarray(a) for a in leaves(adam_state.mu)], [np.asarray(a) for a in leaves(adam_state.nu)]


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
        b1, b2, lr, eps = 0.9, 0.999, LEARNING_RATE, EPSILON
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

    def adam_moments(self):
        return [self.m], [self.v]


def make_epoch_contender(name, sizes, batch, x, y):
    if name in ("gpunn", "gpunn-jit"):
        return GpunnEpoch(sizes, batch, x, y, jit=name == "gpunn-jit")
    return {"numpy-by-hand": NumpyEpoch, "pytorch": TorchEpoch, "jax": JaxEpoch}[name](sizes, batch, x, y)


# ---- timing --------------------------------------------------------------------------------------------
class OtherCpuMeter:
    """Cores that other processes kept busy during a timed call: the machine's busy time (/proc/stat) less this
    process's (/proc/self/stat), over the wall time. On a 2-core machine a 2-thread BLAS or OpenMP team slows
    down many times over when one of its threads loses its core, so a call during which others ran is suspect.
    Clock ticks are 10 ms: a figure below 0.1 core on a call of a few hundred ms is noise."""

    def __init__(self):
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.available = os.path.exists("/proc/stat")

    def _ticks(self):
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
        busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
        with open("/proc/self/stat") as fh:
            own = fh.read().rsplit(")", 1)[1].split()
        return busy, int(own[11]) + int(own[12])  # utime + stime of every thread of this process

    def start(self):
        self._start = self._ticks() if self.available else None

    def stop(self, wall_s: float):
        if self._start is None:
            return None
        busy, own = self._ticks()
        return max(0.0, ((busy - self._start[0]) - (own - self._start[1])) / self.tick / wall_s)


def wait_for_quiet(meter: OtherCpuMeter, max_other_cpu: float, probe_s=1.0, give_up_s=QUIET_WAIT_S) -> float:
    """Wait (at most ``give_up_s``) until other processes use at most ``max_other_cpu`` cores over one probe;
    returns the seconds waited. Cheaper than timing a round only to drop it."""
    if not meter.available:
        return 0.0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < give_up_s:
        meter.start()
        time.sleep(probe_s)
        if meter.stop(probe_s) <= max_other_cpu:
            break
    return time.perf_counter() - t0 - probe_s


def time_in_turns(contenders, repeats, settle_s=SETTLE_S, max_other_cpu=None, extra_rounds=0):
    """Every contender called once per round, in turn, so all see the same load. Returns ({name: [seconds per
    call]}, log). With ``max_other_cpu``, a round during which other processes kept more than that many cores
    busy in any call is run again, at most ``extra_rounds`` times in all; the log lists the cores others used
    in each kept call and the rounds dropped."""
    meter = OtherCpuMeter()
    times = {c.name: [] for c in contenders}
    # Rounds are numbered in the order they ran, dropped ones included: a contender's model has trained one
    # epoch more with each round, and its speed may depend on that (subnormal optimizer state, for one)
    log = {"other_cpu": {c.name: [] for c in contenders}, "dropped_rounds": [], "kept_rounds": []}
    kept = 0
    log["waited_s"] = 0.0
    while kept < repeats:
        if max_other_cpu is not None:
            log["waited_s"] += wait_for_quiet(meter, max_other_cpu)
        round_times, round_other = {}, {}
        for c in contenders:
            # BLAS and OpenMP worker threads spin for a while after their last call; a contender started in
            # that window shares the cores with them. A pause lets the previous contender's threads sleep.
            time.sleep(settle_s)
            meter.start()
            t0 = time.perf_counter()
            c()
            round_times[c.name] = time.perf_counter() - t0
            round_other[c.name] = meter.stop(round_times[c.name])
        disturbed = max_other_cpu is not None and any(v is not None and v > max_other_cpu for v in round_other.values())
        number = kept + len(log["dropped_rounds"]) + 1
        if disturbed and len(log["dropped_rounds"]) < extra_rounds:
            log["dropped_rounds"].append({"round": number, "times_s": round_times, "other_cpu": round_other})
            continue
        for name in times:
            times[name].append(round_times[name])
            log["other_cpu"][name].append(round_other[name])
        log["kept_rounds"].append(number)
        kept += 1
    return times, log


def gpunn_ratios(speeds: dict) -> dict:
    """Each gpunn variant's speed over every other contender's ('gpunn-jit/pytorch': 1.6 = 1.6x as fast)."""
    return {f"{a}/{b}": speeds[a] / speeds[b] for a in ("gpunn", "gpunn-jit") if a in speeds
            for b in speeds if b != a and not (a == "gpunn" and b == "gpunn-jit")}


def run_case(sizes, batch, n, repeats, names, threads, max_other_cpu=None, extra_rounds=0):
    x, y = make_data(n, sizes[0], sizes[-1])
    contenders = [make_epoch_contender(name, sizes, batch, x, y) for name in names]
    warm_losses = {}
    for c in contenders:  # warm-up epoch (and JAX's compilation); also proves each one trains
        c()
        warm_losses[c.name] = loss = float(c.check())
        if not np.isfinite(loss):
            raise RuntimeError(f"{c.name}: non-finite loss after one epoch")
    limit_pools_loaded_since(threads)
    load_before = os.getloadavg()[0]
    times, log = time_in_turns(contenders, repeats, SETTLE_S, max_other_cpu, extra_rounds)
    result = {"sizes": list(sizes), "batch": batch, "samples": n, "repeats": repeats,
              "load_average_1min": [load_before, os.getloadavg()[0]], "max_other_cpu": max_other_cpu,
              "kept_rounds": log["kept_rounds"], "dropped_rounds": log["dropped_rounds"],
              "waited_for_quiet_s": log["waited_s"], "contenders": {}}
    for name, ts in times.items():
        med = statistics.median(ts)
        result["contenders"][name] = {"median_s": med, "min_s": min(ts), "max_s": max(ts),
                                      "samples_per_s": n / med, "times_s": ts,
                                      "other_cpu": log["other_cpu"][name],
                                      "loss_after_warmup_epoch": warm_losses[name]}
    speeds = {name: c["samples_per_s"] for name, c in result["contenders"].items()}
    result["ratios"] = gpunn_ratios(speeds)
    for other, key in (("numpy-by-hand", "gpunn_over_numpy_by_hand"), ("pytorch", "gpunn_over_pytorch")):
        if "gpunn" in speeds and other in speeds:  # the keys of earlier records
            result[key] = speeds["gpunn"] / speeds[other]
    return result


def subnormal_share(arrays) -> float:
    """Share of the values that are subnormal (nonzero, below the smallest normal float): arithmetic on them
    takes a microcode assist per operation on x86 unless the thread flushes them to zero (XLA does)."""
    total = sum(a.size for a in arrays)
    count = 0
    for a in arrays:
        magnitude = np.abs(np.asarray(a))
        count += int(np.count_nonzero((magnitude > 0) & (magnitude < np.finfo(magnitude.dtype).tiny)))
    return count / total if total else 0.0


def epoch_trend(sizes, batch, n, names, epochs, threads):
    """Every contender trains ``epochs`` epochs, in turns; each epoch's time and, after it, the share of
    subnormal values in Adam's first and second moments. An epoch's speed depends on the training state."""
    x, y = make_data(n, sizes[0], sizes[-1])
    contenders = [make_epoch_contender(name, sizes, batch, x, y) for name in names]
    trend = {c.name: [] for c in contenders}
    for epoch in range(1, epochs + 1):
        for c in contenders:
            if epoch == 2:
                limit_pools_loaded_since(threads)
            time.sleep(SETTLE_S)
            t0 = time.perf_counter()
            c()
            seconds = time.perf_counter() - t0
            first, second = c.adam_moments()
            trend[c.name].append({"epoch": epoch, "seconds": seconds, "subnormal_first_moment": subnormal_share(first),
                                  "subnormal_second_moment": subnormal_share(second)})
        print(f"  epoch {epoch}: " + ", ".join(f"{name} {t[-1]['seconds']:.3f} s "
                                              f"({t[-1]['subnormal_first_moment']:.2%})" for name, t in trend.items()),
              flush=True)
    return {"sizes": list(sizes), "batch": batch, "samples": n, "epochs": epochs, "contenders": trend}


def trend_markdown(record: dict) -> str:
    t = record["trend"]
    names = list(t["contenders"])
    lines = ["# Epoch time against epochs trained: the subnormal slowdown", "",
             f"Written by `bench/cpu_epoch.py --trend` from `{os.path.basename(record.get('output') or '')}`. "
             f"{'-'.join(map(str, t['sizes']))}, batch {t['batch']}, {t['samples']} samples: every contender "
             "trains epoch after epoch from its initial weights, the contenders in turns (0.5 s pause before each "
             "epoch, the first epoch includes JAX's compilation). Each cell: the epoch's seconds, then the share of "
             "subnormal values in Adam's first moment after it (second moment where nonzero).", "",
             f"Command: `{record['command']}`", ""] + machine_lines(record) + ["",
             "| epoch | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for i in range(t["epochs"]):
        cells = []
        for name in names:
            e = t["contenders"][name][i]
            cell = f"{e['seconds']:.3f} s ({e['subnormal_first_moment']:.2%}"
            cell += f", v {e['subnormal_second_moment']:.2%})" if e["subnormal_second_moment"] else ")"
            cells.append(cell)
        lines.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---- the record ----------------------------------------------------------------------------------------
def git_state(directory: str) -> str:
    """Short commit of the checkout holding ``directory``, and whether its work tree differs from it."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit, dirty = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + (" with uncommitted changes" if dirty else "")


def code_record() -> dict:
    """The gpunn measured (the imported package's checkout: PYTHONPATH may point at another checkout than the
    scripts') and the scripts' own checkout."""
    import gpunn

    package = os.path.dirname(os.path.dirname(os.path.abspath(gpunn.__file__)))
    scripts = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return {"git": git_state(package), "gpunn_checkout": package, "scripts_git": git_state(scripts),
            "scripts_checkout": scripts}


def machine_record(threads: int, names, xla_setting: str) -> dict:
    from gpunn import _compat
    from gpunn.benchmarking.environment import machine_facts

    facts = machine_facts()
    for dist in ("jax", "jaxlib", "optax"):
        facts[dist] = _compat.version_of(dist) or "not installed"
    return {**code_record(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "threads": threads,
            "thread_settings": thread_settings(threads, names, xla_setting), "machine": facts}


def command_line(argv) -> str:
    return "python " + " ".join([sys.argv[0]] + list(sys.argv[1:] if argv is None else argv))


def write_markdown(path: str, generated: str) -> None:
    """Write ``generated`` to ``path``, keeping what follows NOTES_MARKER in the old file (hand-written notes)."""
    notes = ""
    if os.path.exists(path):
        with open(path) as fh:
            old = fh.read()
        if NOTES_MARKER in old:
            notes = old[old.index(NOTES_MARKER) + len(NOTES_MARKER):]
    with open(path, "w") as fh:
        fh.write(generated.rstrip() + "\n\n" + NOTES_MARKER + (notes if notes else "\n"))


def machine_lines(record: dict) -> list[str]:
    m = record["machine"]
    same = record["gpunn_checkout"] == record["scripts_checkout"]
    return [f"- gpunn measured: commit `{record['git']}`" + ("" if same else
            f" (imported from `{record['gpunn_checkout']}`; the scripts from `{record['scripts_checkout']}` at "
            f"`{record['scripts_git']}`)") + f"; run {record['date']}.",
            f"- CPU: {m.get('cpu_model')}, {m.get('cpus_usable')} usable cores; {m.get('platform')}; "
            f"Python {m.get('python')}.",
            f"- Versions: gpunn {m.get('gpunn')}, NumPy {m.get('numpy')}, Numba {m.get('numba')}, "
            f"PyTorch {m.get('torch')}, JAX {m.get('jax')}, jaxlib {m.get('jaxlib')}, optax {m.get('optax')}.",
            f"- BLAS (threadpoolctl, inside the run): {'; '.join(m.get('blas', []))}.",
            f"- Threads: {record['threads']} per contender:"] + \
           [f"  - {name}: {setting}" for name, setting in record["thread_settings"].items()]


def epoch_markdown(record: dict) -> str:
    lines = ["# One fit epoch on the CPU: gpunn (eager, jit_compile=True) vs PyTorch vs JAX vs a hand-written "
             "NumPy loop", "",
             "Written by `bench/cpu_epoch.py` from the run recorded in `cpu_epoch.json`. Every contender trains "
             "the same MLP (Dense relu hidden layers, softmax output, sparse categorical cross-entropy, Adam lr "
             "1e-3 eps 1e-7) for one epoch over synthetic float32 samples, shuffled, same batch, same thread "
             "count; each is warmed up one epoch (JAX compiles there), then they take turns, a 0.5 s pause "
             "before each epoch; the median epoch time counts. `gpunn`: `model.fit(x, y, batch_size=B, "
             "epochs=1, verbose=0)` (accuracy metric on, input checks included); `gpunn-jit`: the same model "
             "compiled with `jit_compile=True`; `pytorch`: randperm, `x[idx]`, zero_grad/forward/backward/step "
             "(default Adam); `jax`: the whole step under one `jax.jit` (gather `x[idx]` included, parameters and "
             "Adam state donated), optax Adam; `numpy-by-hand`: a hand-written loop with in-place NumPy.", "",
             f"Command: `{record['command']}`", ""] + machine_lines(record) + [""]
    names = [n for n in CONTENDERS if any(n in r["contenders"] for r in record["results"])]
    lines += ["## Samples per second (median; range of epoch times in seconds)", "",
              "| model | batch | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for r in record["results"]:
        cells = []
        for name in names:
            c = r["contenders"].get(name)
            cells.append(f"{c['samples_per_s']:,.0f} ({c['min_s']:.3f}-{c['max_s']:.3f} s)" if c else "")
        lines.append(f"| {'-'.join(map(str, r['sizes']))} | {r['batch']} | " + " | ".join(cells) + " |")
    lines += ["", "Other processes during the timed epochs (cores they kept busy, from /proc/stat less this "
              "process; a round where they passed the limit in any epoch was run again, up to a limit):", ""]
    for r in record["results"]:
        worst = max((v for c in r["contenders"].values() for v in c.get("other_cpu", []) if v is not None),
                    default=None)
        lines.append(f"- {'-'.join(map(str, r['sizes']))}: limit {r.get('max_other_cpu')} cores, "
                     f"rounds run again: {len(r.get('dropped_rounds', []))}, "
                     f"waited for quiet before rounds: {r.get('waited_for_quiet_s', 0):.0f} s, most in a kept epoch: "
                     + (f"{worst:.2f} cores" if worst is not None else "unknown")
                     + f"; 1-minute load average {r['load_average_1min'][0]:.2f} before, "
                       f"{r['load_average_1min'][1]:.2f} after.")
    keys = sorted({k for r in record["results"] for k in r["ratios"]}, key=lambda k: (k.split("/")[0] != "gpunn", k))
    lines += ["", "## Ratios (speed over speed; above 1: the gpunn variant is faster)", "",
              "| model | batch | " + " | ".join(f"{k}" for k in keys) + " |", "|---|---:|" + "---:|" * len(keys)]
    for r in record["results"]:
        lines.append(f"| {'-'.join(map(str, r['sizes']))} | {r['batch']} | "
                     + " | ".join(f"{r['ratios'][k]:.2f}" if k in r["ratios"] else "" for k in keys) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--output", default=None, help="write the results as JSON here")
    ap.add_argument("--markdown", default=None,
                    help="write a summary here (the notes after its marker line are kept)")
    ap.add_argument("--case", type=int, choices=range(len(CASES)), default=None,
                    help="run only this case (0: 784-128-128-10 batch 128, 1: 784-1024-1024-10 batch 512)")
    ap.add_argument("--max-other-cpu", type=float, default=0.25,
                    help="run a round again when other processes kept more than this many cores busy during "
                         "any of its epochs (negative: keep every round)")
    ap.add_argument("--extra-rounds", type=int, default=None,
                    help="rounds that may be run again, in all, per case (default: --repeats)")
    ap.add_argument("--contenders", default=",".join(CONTENDERS),
                    help=f"comma-separated subset of {','.join(CONTENDERS)} (default: all that are installed)")
    ap.add_argument("--trend", type=int, default=0, metavar="EPOCHS",
                    help="instead: train EPOCHS epochs per contender, in turns, and record each epoch's time and "
                         "the subnormal share of Adam's moments (--case picks the case, default 1)")
    ap.add_argument("--from-json", default=None,
                    help="measure nothing: write --markdown from this earlier --output record")
    args = ap.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as fh:
            record = json.load(fh)
        to_markdown = trend_markdown if "trend" in record else epoch_markdown
        write_markdown(args.markdown or ap.error("--from-json needs --markdown"), to_markdown(record))
        return
    wanted = set(args.contenders.split(","))
    if wanted - set(CONTENDERS):
        ap.error(f"--contenders: unknown {sorted(wanted - set(CONTENDERS))}")
    xla_setting = limit_xla_threads(args.threads)
    from threadpoolctl import threadpool_limits

    names = available_contenders(wanted)
    if "pytorch" in names:
        import torch

        torch.set_num_threads(args.threads)
    if args.trend:
        sizes, batch, n = CASES[1 if args.case is None else args.case]
        with threadpool_limits(limits=args.threads):
            print(f"{'-'.join(map(str, sizes))} batch {batch}: epoch times over {args.trend} epochs", flush=True)
            record = {"command": command_line(argv), "output": args.output,
                      **machine_record(args.threads, names, xla_setting),
                      "trend": epoch_trend(sizes, batch, n, names, args.trend, args.threads)}
        write_record(record, args.output, args.markdown, trend_markdown)
        return
    results = []
    with threadpool_limits(limits=args.threads):
        for sizes, batch, n in (CASES if args.case is None else [CASES[args.case]]):
            print(f"{'-'.join(map(str, sizes))} batch {batch}, {n} samples, {args.threads} threads:", flush=True)
            r = run_case(sizes, batch, n, args.repeats, names, args.threads,
                         None if args.max_other_cpu < 0 else args.max_other_cpu,
                         args.repeats if args.extra_rounds is None else args.extra_rounds)
            for name, c in r["contenders"].items():
                print(f"  {name:14s} {c['samples_per_s']:>10,.0f} samples/s  (median {c['median_s']:.3f} s, "
                      f"range {c['min_s']:.3f}-{c['max_s']:.3f})")
            print("  " + ", ".join(f"{k} = {v:.2f}" for k, v in r["ratios"].items()), flush=True)
            if r["dropped_rounds"]:
                print(f"  ({len(r['dropped_rounds'])} rounds run again: other processes used more than "
                      f"{args.max_other_cpu} cores during them)")
            results.append(r)
        record = {"command": command_line(argv), **machine_record(args.threads, names, xla_setting),
                  "results": results}
    write_record(record, args.output, args.markdown, epoch_markdown)


def write_record(record, output, markdown, to_markdown) -> None:
    if output:
        with open(output, "w") as fh:
            json.dump(record, fh, indent=2, default=str)
        print(f"wrote {output}")
    if markdown:
        write_markdown(markdown, to_markdown(record))
        print(f"wrote {markdown}")


if __name__ == "__main__":
    main()
