"""Ops: every array primitive gpunn uses, written once through ``self.xp`` (NumPy or CuPy).

This generic class is the reference: every primitive, the fused steps included (``reference_steps.py``), as
plain array expressions. The backends subclass it and override what they speed up, as thinc's do:
``NumpyOps`` (the CPU backend: the kernels' NumPy twins and the compiled CPU updates) and ``CupyOps`` (the
GPU backend: the Numba CUDA launchers, falling back to the reference where a kernel lacks a dtype).
Layers, losses and optimizers call these methods and never look at the device themselves.
"""
from __future__ import annotations

import contextlib
import functools
import threading

import numpy

from ..kernels import optimizer_state
from . import relu_fusion
from .elementwise import ElementwisePrimitives
from .recording import primitive
from .reference_steps import ReferenceSteps


class Ops(ElementwisePrimitives, ReferenceSteps):
    """The reference backend on ``xp`` (NumPy by default; ``Ops(xp=cupy)`` runs the same on the GPU)."""

    name = "reference"
    xp = numpy
    device_description = "CPU (NumPy, reference steps)"
    out_of_memory_errors: tuple = (MemoryError,)
    allow_tf32 = False  # TF32 is a GPU matmul mode (gpunn.ops.tf32); on the CPU float32 stays float32
    # What compile(jit_compile="auto") means here: record the step and replay it. On where a backend's replays
    # were measured faster than its eager steps (and equal to them); the reference steps gain nothing.
    replays_by_default = False

    def __init__(self, xp=None):
        if xp is not None and xp is not numpy:
            self.xp = xp
            if not isinstance(getattr(type(self), "device_description"), property):  # CupyOps names its device
                self.device_description = f"{xp.__name__} (reference steps)"
            memory = getattr(getattr(xp, "cuda", None), "memory", None)
            if memory is not None:
                self.out_of_memory_errors = (MemoryError, memory.OutOfMemoryError)

    @property
    def on_host(self) -> bool:
        return self.xp is numpy

    def run_python(self, function):
        """Run ``function()``, Python code of a user's that computes with arrays of its own (a custom loss or
        metric function): recorded as a host call, so a replay runs it again and a CUDA graph ends before it
        (its temporaries come from the memory pool and must not be captured)."""
        if self._tape is not None and self._tape_thread == threading.get_ident():
            return self._tape.call(self._unrecorded, function)
        return function()

    def _unrecorded(self, function):
        """``function()`` with recording off: array primitives it calls (a layer's forward inside a layer of the
        user's) run as part of the host call, which a replay runs again, and are not recorded a second time."""
        tape, self._tape = self._tape, None
        try:
            return function()
        finally:
            self._tape = tape

    # ---- memory and transfers -------------------------------------------------------------------
    def asarray(self, data, dtype=None):
        """Device array from host or device data; no copy when it is already there with that dtype."""
        return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, array) -> numpy.ndarray:
        if self.on_host or not isinstance(array, self.xp.ndarray):
            return numpy.asarray(array)
        return self.xp.asnumpy(array)

    def zeros(self, shape, dtype="float32"):
        return self.xp.zeros(shape, dtype=dtype)

    def empty(self, shape, dtype="float32"):
        return self.xp.empty(shape, dtype=dtype)

    def empty_like(self, array):
        return self.xp.empty_like(array)

    def copy(self, array):
        return array.copy()

    def upload(self, host_array, out) -> None:
        """Copy host data into the device buffer ``out`` (on the CPU, a plain copy)."""
        if self.on_host:
            numpy.copyto(out, host_array)
        else:
            # CuPy's set() takes only the shape of ``out``; ascontiguousarray would make a 0-d host value 1-d.
            out.set(numpy.asarray(host_array, dtype=out.dtype, order="C"))

    @primitive
    def take_rows(self, array, indices, out=None):
        """``array[indices]`` along axis 0, written into ``out`` when given (the batch gather)."""
        if self.on_host and out is not None:
            # NumPy's default mode='raise' gathers into a temporary first when out is given
            return numpy.take(array, indices, axis=0, out=out, mode="clip")
        return self.xp.take(array, indices, axis=0, out=out)

    @primitive
    def gather_rows(self, source, order, cursor, offset, out):
        """``out[i] = source[order[cursor[0] + offset + i]]``: a step fetching its own batch at the device
        cursor (kernels/gather_rows.py). This reference reads the cursor on the host (a sync on a GPU);
        CupyOps reads it in the kernel."""
        start = int(self.to_float(cursor[0])) + int(offset)
        rows = order[start:start + len(out)]
        if len(rows) != len(out):
            raise IndexError(f"cursor: rows [{start}, {start + len(out)}) run past the order's {len(order)} samples")
        return self.take_rows.unrecorded(self, source, rows, out=out)

    @primitive
    def advance_cursor(self, cursor, amount) -> None:
        """``cursor[0] += amount`` on the device (after a step has gathered every array of its batch)."""
        cursor[0] += amount

    def permutation(self, n: int, rng: numpy.random.Generator):
        """A shuffled index vector on the device, drawn from the host generator (same order on every backend)."""
        return self.asarray(rng.permutation(n))

    def set_tf32(self, allow: bool) -> None:
        """TF32 matmuls are a GPU feature (see CupyOps and gpunn.ops.tf32); here float32 stays float32."""

    def synchronize(self) -> None:
        """Wait for queued device work; a no-op on the CPU."""
        if not self.on_host:
            self.xp.cuda.get_current_stream().synchronize()

    def finish_all_streams(self) -> None:
        """Wait for the work queued on every stream of the current device (what other threads launched on their
        own current streams); a no-op on the CPU."""
        if not self.on_host:
            self.xp.cuda.Device().synchronize()

    def to_float(self, scalar) -> float:
        """Read one device value back to the host (a sync point on GPUs: call once per log interval)."""
        return float(scalar.get()) if hasattr(scalar, "get") else float(scalar)

    def free_bytes(self) -> int | None:
        """Device memory free for new allocations, or None when it is host memory."""
        if self.on_host:
            return None
        free, _total = self.xp.cuda.runtime.memGetInfo()
        return int(free + self.xp.get_default_memory_pool().free_bytes())

    # ---- recorded steps ---------------------------------------------------------------------------
    def step_conditions(self):
        """The context every training step runs in, eager, recorded or replayed: none here; CupyOps runs steps
        under the conditions its CUDA graphs are captured in, so that an eager step and a recorded one run (and
        compile) the very kernels its graphs replay."""
        return contextlib.nullcontext()

    def compile_replays(self, tape, repeats: int = 1):
        """A callable running ``repeats`` replays of a recorded step (``recording.Tape``). Here the replays
        themselves, call by call; CupyOps captures them as CUDA graphs."""
        if repeats == 1:
            return tape.replay

        def replays() -> None:
            for _ in range(repeats):
                tape.replay()

        return replays

    def bind_for_replay(self, method, args, kwargs):
        """The call a recording keeps for the primitive ``method(self, *args, **kwargs)`` and replays: the
        method bound to its arguments, unless a backend has something cheaper doing the same (NumpyOps: an
        MKL matmul with its arguments converted once)."""
        return functools.partial(method, self, *args, **kwargs)

    # ---- linear algebra -------------------------------------------------------------------------
    @primitive
    def matmul(self, a, b, out=None):
        """``a @ b``; transposed operands are passed as ``.T`` views and reach BLAS without a copy."""
        return self.xp.matmul(a, b, out=out)

    @primitive
    def matmul_bias_act(self, a, b, bias, activation, out, alpha=0.2):
        """``out = activation(a @ b + bias)``, a Dense layer's forward for an activation whose gradient reads its
        output (the pre-activation is not kept): the matmul, then the fused bias + activation step in place. A
        backend whose GEMM applies the bias and activation to its output tiles (``fuses_bias_act_into_matmul``)
        makes it one call."""
        self.matmul(a, b, out=out)
        return self.bias_act_forward(out, bias, activation, out, alpha)

    def fuses_bias_act_into_matmul(self, activation: str, dtype) -> bool:
        """Whether ``matmul_bias_act`` saves the separate bias + activation pass for this activation and dtype
        (layers call it only then, so that other backends' steps keep their calls)."""
        return False

    # ---- a recorded step's ReLU backward inside the GEMM before it (relu_fusion.py) -------------------
    @primitive
    def matmul_bias_relu_mask(self, a, b, bias, out, mask):
        """``matmul_bias_act(a, b, bias, "relu", out)`` that also writes which outputs were positive into
        ``mask`` (from ``relu_mask_buffer``, in the backend's own format) for ``matmul_relu_backward``. Here
        the mask is not needed: that call reads the output instead."""
        return self.matmul_bias_act(a, b, bias, "relu", out)

    @primitive
    def matmul_relu_backward(self, a, b, y, mask, out, dbias_out):
        """``out = (a @ b) * (y > 0)`` and ``dbias_out`` its column sums: the input gradient a Dense layer passes
        back, through the ReLU and bias of the layer before it (output ``y``, ``mask`` written by its
        ``matmul_bias_relu_mask``). Here the matmul, then that layer's ReLU backward in place, as unfused."""
        self.matmul(a, b, out=out)
        return self.act_backward_bias_grad(out, y, None, "relu", out, dbias_out)

    def relu_mask_buffer(self, rows: int, units: int):
        """A buffer for the ReLU mask of a (rows x units) output (here none is kept: a 0-length placeholder)."""
        return self.xp.empty(0, dtype=numpy.uint8)

    def fuses_relu_backward_into_matmul(self) -> bool:
        """Whether a recording's ReLU layers are rewritten by ``optimize_recording`` (none by default)."""
        return False

    def prepare_relu_backward(self, forward: dict, backward: dict) -> bool:
        """Whether this backend fuses this pair, everything for it made now (before any capture): ``forward``
        holds ``matmul_bias_relu_mask``'s arguments, ``backward`` ``matmul_relu_backward``'s."""
        return False

    def optimize_recording(self, tape) -> None:
        """Rewrite a finished recording's calls into fewer that compute the same (``relu_fusion.py``), where
        this backend fuses them; its replays run the rewritten calls."""
        if self.fuses_relu_backward_into_matmul():
            tape.calls = relu_fusion.fuse_relu_backward(self, tape.calls)

    # ---- embedding: table rows by token id, and their gradient (kernels/embedding.py) --------------------
    @primitive
    def cast_into(self, source, out):
        """``out[...] = source`` converted to ``out``'s dtype as C does (floats to ints truncate): token ids
        arrive in the model's float dtype and index as int64."""
        self.xp.copyto(out, source, casting="unsafe")
        return out

    @primitive
    def check_ids_in_range(self, ids, limit: int, layer: str, out) -> None:
        """Raise ValueError unless every int64 id is in [0, ``limit``), naming ``layer``; ``out``: two int64s to
        compute the range in. Ids that came in with
        the data were checked there; this catches ids a model computes (``ops.floor_divide`` of its input, a
        layer of the user's), where NumPy would clip. On the GPU it does nothing: a host check would wait for
        the device every step; the CUDA lookup reads zeros for such an id and its gradient adds nothing."""
        if not self.on_host or ids.size == 0:
            return
        # Into ``out`` (two int64s of the layer's workspace): a step allocates nothing after its first.
        numpy.minimum.reduce(ids, axis=None, out=out[0:1].reshape(()))
        numpy.maximum.reduce(ids, axis=None, out=out[1:2].reshape(()))
        low, high = int(out[0]), int(out[1])
        if low < 0 or high >= limit:
            raise ValueError(
                f"layer {layer!r}: token ids computed inside the model must be in [0, input_dim={limit}); they "
                f"range from {low} to {high} (Keras's TensorFlow backend raises here, its JAX backend gives NaN)")

    @primitive
    def embedding_lookup(self, table, ids, out):
        """``out[s] = table[ids[s]]`` for int64 ``ids`` of any shape (checked in range where the data came in)."""
        if self.on_host:
            return numpy.take(table, ids, axis=0, out=out, mode="clip")  # no buffering: see embedding.py
        return self.xp.take(table, ids, axis=0, out=out)

    @primitive
    def embedding_grad(self, dy, ids, grad_out):
        """``grad_out`` (the table's gradient) = the rows of ``dy`` added up at their ids, zero elsewhere."""
        grad_out.fill(0)
        rows = dy.reshape(-1, grad_out.shape[1])
        self.xp.add.at(grad_out, ids.reshape(-1), rows)
        return grad_out

    # ---- dropout: the counter-based hash of kernels/dropout.py --------------------------------------
    @primitive
    def dropout_forward(self, x, rate, seed, counter, out, mask_out):
        """``counter``: the layer's device counter (a 1-element int64 array), read by the step, never frozen."""
        from ..kernels import dropout

        if not self.on_host:
            raise NotImplementedError("dropout_forward: the reference has no device hash; use CupyOps")
        dropout.dropout_forward_numpy(x, rate, seed, counter, out, mask_out)
        return out

    @primitive
    def dropout_backward(self, dy, mask, rate, dx_out):
        self.xp.multiply(dy, mask, out=dx_out)
        self.xp.multiply(dx_out, 1.0 / (1.0 - rate), out=dx_out)
        return dx_out

    # ---- normal noise from the same hash (kernels/gaussian_noise.py) --------------------------------
    @primitive
    def random_normal(self, seed, counter, mean, stddev, out):
        """``out`` = mean + stddev * N(0, 1) draws for (seed, ``counter``), the layer's 1-element int64 device
        counter, read by the step, never frozen (GaussianNoise, GaussianDropout)."""
        from ..kernels import gaussian_noise

        if not self.on_host:
            raise NotImplementedError("random_normal: the reference has no device hash; use CupyOps")
        cache = self.__dict__.setdefault("_normal_scratch", {})  # the twin's buffers, one set per size
        key = (out.size, out.dtype.str)
        scratch = cache.get(key)
        if scratch is None:
            scratch = cache[key] = gaussian_noise.NormalScratch(out.size, out.dtype)
        gaussian_noise.random_normal_numpy(seed, counter, mean, stddev, out, scratch)
        return out

    # ---- the optimizer's device state ----------------------------------------------------------------
    def prepare_update(self, step: str, dtype) -> None:
        """Ready the optimizer update ``step`` for ``dtype`` before training (compile it, where a backend
        compiles): nothing to do for the reference."""

    @primitive
    def advance_optimizer_state(self, state, schedule=None, rate=None):
        """Begin an update: the learning rate of this step (the schedule at the current count, when there is
        one: a (formula, constants) pair from ``LearningRateSchedule.formula()``, or from ``formula_of_rate()``
        with its initial rate in the one-element array ``rate``) into state[1], then one more iteration in
        state[0] (Keras's ``local_step``). The reference evaluates the schedule on the host, so on a GPU it
        reads the count back; CupyOps does it on the device."""
        if self.on_host:
            optimizer_state.advance_numpy(state, schedule, rate)
            return
        if schedule is not None:
            host = self.to_numpy(state)
            optimizer_state.advance_numpy(host, schedule, None if rate is None else self.to_numpy(rate))
            state.set(host)
            return
        self.xp.add(state[0:1], 1.0, out=state[0:1])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.device_description}>"


_reference_ops: dict = {}


def reference_ops_for(array) -> Ops:
    """The reference Ops of ``array``'s device: NumPy's, or CuPy's for a device array. For computing on arrays
    outside a model (a constraint or a loss called on its own, or inside a function of the user's)."""
    on_device = hasattr(array, "__cuda_array_interface__") and not isinstance(array, numpy.ndarray)
    key = "cupy" if on_device else "numpy"
    if key not in _reference_ops:
        from .. import _compat

        _reference_ops[key] = Ops(xp=_compat.cupy()) if on_device else Ops()
    return _reference_ops[key]
