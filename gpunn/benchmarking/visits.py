"""What one training step costs the host: the time to issue it, and how many calls it makes into the backend.

On a GPU a small model's step is bound by the host, not the device: the figure that matters is how long the
host takes to queue one step, and how many calls it makes to do so. Both are taken apart from the timed
repeats (timing.py), on a warm contender:

* host time per step: the device is synchronised first, then only the call to ``step()`` is timed, with no
  synchronisation inside, so the figure is the host's work to queue the step (on the CPU, where every call
  runs to completion, it is the step itself). The median of a few steps is reported;
* ops calls per step: calls into the Ops object's public methods during one step, counted by wrapping them.
  Calls an Ops method makes to another are not counted again, nor are methods that only allocate (``empty``,
  ``empty_like``) or change settings. Every counted call is a matmul, a fused step, an optimizer update or a
  transfer, so on a GPU it launches at least one kernel or copy: the count is a lower bound of kernel
  launches (cuBLAS, or a library's own, may launch more than one per call);
* host time per ops call: the one divided by the other.
"""
from __future__ import annotations

import functools
import inspect
import statistics
import time

# Public Ops methods that queue no device work: allocation without initialisation, settings, waiting, questions.
NOT_COUNTED = frozenset({"empty", "empty_like", "synchronize", "set_tf32", "prepare_update", "set_update_threads",
                         "free_bytes", "update_threads", "step_conditions", "fuses_bias_act_into_matmul"})


def public_methods(ops) -> list[str]:
    """The names of ``ops``'s public methods, as the class defines them (properties left out)."""
    cls = type(ops)
    return [name for name in dir(cls) if not name.startswith("_") and name not in NOT_COUNTED
            and inspect.isfunction(inspect.getattr_static(cls, name))]


class OpsCallCounter:
    """While active, counts the outermost calls into ``ops``'s public methods (see the module notes).

    The counting wrappers are set on the instance, shadowing the class's methods for this object only, and
    removed on exit; whatever the instance held under those names before is put back.
    """

    def __init__(self, ops):
        self.ops = ops
        self.calls = 0
        self.by_method: dict[str, int] = {}
        self._depth = 0
        self._saved: dict[str, object] = {}

    def __enter__(self) -> "OpsCallCounter":
        own = vars(self.ops)
        for name in public_methods(self.ops):
            self._saved[name] = own.get(name, _ABSENT)
            setattr(self.ops, name, self._counting(name, getattr(self.ops, name)))
        return self

    def __exit__(self, *exc) -> bool:
        for name, before in self._saved.items():
            if before is _ABSENT:
                delattr(self.ops, name)
            else:
                setattr(self.ops, name, before)
        self._saved.clear()
        return False

    def _counting(self, name: str, method):
        @functools.wraps(method)
        def counted(*args, **kwargs):
            if self._depth == 0:  # a call from the model, not one Ops method calling another
                self.calls += 1
                self.by_method[name] = self.by_method.get(name, 0) + 1
            self._depth += 1
            try:
                return method(*args, **kwargs)
            finally:
                self._depth -= 1
        return counted


_ABSENT = object()


def steps_per_call(contender) -> int:
    """Training steps one ``contender.step()`` makes (several for a CUDA graph of N steps)."""
    return getattr(contender, "steps_per_call", 1)


def host_seconds_per_step(contender, steps: int) -> float:
    """Median host time to issue one step, each started on an idle device (see the module notes)."""
    times = []
    for _ in range(max(1, steps)):
        contender.synchronize()
        start = time.perf_counter()
        contender.step()
        times.append(time.perf_counter() - start)
    contender.synchronize()
    return statistics.median(times) / steps_per_call(contender)


def host_visit_figures(contender, steps: int) -> dict:
    """{'host_s_per_step', 'ops_calls_per_step', 'host_s_per_ops_call'}; the last two are None for a contender
    without an Ops object to count (PyTorch)."""
    host = host_seconds_per_step(contender, steps)
    counter = getattr(contender, "count_ops_calls", None)
    calls = round(counter() / steps_per_call(contender)) if counter is not None else None
    return {"host_s_per_step": host, "ops_calls_per_step": calls,
            "host_s_per_ops_call": host / calls if calls else None}
