"""TrainStep: one optimizer step on a batch, as an object that owns everything the step needs.

Made by ``model.make_train_function()`` and cached until the model is rebuilt, recompiled or its communicator
changes. It owns the plan (output activation fused into the loss, which layers need dx, the resolved
metrics), the per-batch-size buffers (the input slot, the loss's workspace; layers keep their own), the
gradient reducer and the running loss/metric sums. ``fit``, ``train_on_batch`` and ``gpunn bench`` all run it.

A step: weight penalty (of the weights the batch is computed with), forward, the loss's fused value and
gradient, sample weights, backprop in reverse into the flat gradient buffer (the reducer told as each layer's
gradients are final), the sum over ranks, the penalties' gradients, the metric sums, the moving statistics, one
optimizer update, the weight constraints (as Keras applies them, after the update). What the step changes comes
after the code of the script's it runs, so that an exception there leaves the model as the step found it.

With ``jit_compile=True`` the first step of each batch shape is recorded (``ops/recording.py``) and later steps
of that shape replay the recording: the same primitives on the same buffers, without the Python logic.
"""
from __future__ import annotations

import functools

import warnings

import numpy as np

from .. import compute_turns, regularizers, step_calls
from ..layers import step_state_updates, wiring
from ..layers.gradient_views import trained_names
from ..ops.base import Ops
from ..optimizers import accumulation
from ..ops.cuda_graphs import CaptureRefused
from ..ops.recording import Recording
from ..ops.workspace import Workspace, Workspaces
from . import activity, compiled_outputs, layer_losses, output_losses, step_interrupts
from .epoch_iterator import BatchSlot, DeviceFeed
from .memory import OutOfMemoryGuard
from .plan import make_plan, run_forward, weight_penalty
from .replicas import sync_replicas
from .running_metrics import RunningMetrics, running_metrics_for
from ..user_stacklevel import user_stacklevel


class _Recorded:
    """A recorded step, what it was recorded for (the step's signature and the feed it fetches from) and
    its compiled replays (by number of steps)."""

    def __init__(self, tape, signature, source):
        self.tape, self.signature = tape, signature
        # The feed itself, not its id: a recording is bound to the feed's buffers, and holding the feed keeps
        # a new one from taking a dead one's id.
        self.feed = None if source is None else source.feed
        self.feed_place = None if source is None else source.place
        self.runners: dict = {}

    def serves(self, signature, source) -> bool:
        if signature != self.signature:
            return False
        if source is None:
            return self.feed is None
        return source.feed is self.feed and source.place == self.feed_place


class _SizedState:
    """What one batch shape needs: its input slot, the loss's and the step's own buffers, its recordings
    (one for a batch copied into the slot, one per way of fetching it from a device feed)."""

    def __init__(self, slot: BatchSlot, ops):
        self.slot = slot
        self.loss_ws = Workspaces(ops)  # per output (output_losses.py)
        self.ws = Workspace(ops)
        self.recordings: dict = {}


class _FeedSource:
    """Where a step fetches its batch: the feed, this rank's offset in the global batch, the batch's size."""

    def __init__(self, feed: DeviceFeed, offset: int, global_rows: int):
        self.feed, self.offset, self.global_rows = feed, offset, global_rows
        self.place = (offset, global_rows)

    def gather_into(self, slot: BatchSlot) -> None:
        self.feed.gather_into(slot, self.offset, self.global_rows)


class GraphFallbackWarning(RuntimeWarning):
    """``jit_compile=True`` on a GPU: the step could not be captured as a CUDA graph and is replayed
    call by call instead (same results, less of the speed-up)."""


class TrainStep:
    def __init__(self, model, comm, jit: bool = False):
        self.model, self.comm = model, comm
        self.ops = model.ops
        self.jit = bool(jit)
        self.plan = None
        self.metrics: RunningMetrics | None = None
        self._states: dict = {}
        self._reducer = None
        self._capture_refused = False  # warned once; later steps replay without a graph
        self._store = model._store  # the buffers the plan, reducer and recordings were made for
        model._ensure_optimizer()
        sync_replicas(model, comm)

    # ---- set-up ---------------------------------------------------------------------------------------
    def prepare(self, sparse_labels: bool) -> "TrainStep":
        """Resolve the plan and metrics for this label layout (the first call, or when it changes)."""
        if self.plan is None or self.plan.sparse_labels != sparse_labels:
            self.plan = make_plan(self.model, sparse_labels)
            self.metrics = running_metrics_for(self.plan, self.ops, self.comm, self.model)
            self.model.compiled_metrics = self.plan.metrics
            self._reducer = self._make_reducer()
            self._states.clear()
        return self

    def _follow_new_buffers(self) -> None:
        """The model was packed into new buffers while this step was in use (``make_train_function(force=True)``
        from a callback, after a change of ``trainable``): plan, reducer and optimizer again for them, recordings
        dropped; the batch slots and the running sums of the epoch stay."""
        model = self.model
        self._store = model._store
        model._ensure_optimizer()
        self.plan = make_plan(model, self.plan.sparse_labels)
        self._reducer = self._make_reducer()
        for state in self._states.values():
            state.recordings.clear()

    def _make_reducer(self):
        """The communicator's per-model gradient reducer (None alone): told as each layer's gradients are
        final, so a bucketed implementation can overlap communication with the rest of the backward pass."""
        if self.comm.size == 1:
            return None
        model = self.model
        layer_segments = []
        grad_views = [layer.bound.grads[s.name] for layer in model._layers for s in layer.weight_specs()
                      if s.name in trained_names(layer.bound.grads)]
        for layer in self.plan.layers:
            ids = {id(g) for g in layer.bound.grads.values()}
            layer_segments.append([seg for seg, g in zip(model._segments, grad_views) if id(g) in ids])
        return self.comm.gradient_reducer(model.grads, layer_segments)

    def slot(self, rows: int, global_rows: int, y_sample_shape, y_dtype, weights_shape) -> BatchSlot:
        """The input buffers for batches of this shape, made on first use."""
        key = (rows, global_rows, tuple(y_sample_shape), np.dtype(y_dtype).str, weights_shape)
        state = self._states.get(key)
        if state is None:
            model = self.model
            slot = BatchSlot(self.ops, rows, global_rows, model._built_input_shape, model.dtype,
                             y_sample_shape, y_dtype, weights_shape)
            slot.key = key
            state = self._states[key] = _SizedState(slot, self.ops)
        return state.slot

    # ---- the step -------------------------------------------------------------------------------------
    def __call__(self, slot: BatchSlot) -> None:
        """One step on the batch in ``slot``; its loss and metrics are added to ``self.metrics``."""
        self._steps(self._states[slot.key], None, 1)

    def repeat(self, slot: BatchSlot, count: int) -> None:
        """``count`` steps on the same batch in ``slot`` (a benchmark's staged batch): with jit_compile=True one
        replay of ``count`` steps, one CUDA graph launch on a GPU."""
        self._steps(self._states[slot.key], None, count)

    def run_batches(self, iterator, batches, y_sample_shape, y_dtype, weights_shape) -> None:
        """Steps on ``batches``, consecutive batches of ``iterator``'s epoch (an execution of
        ``steps_per_execution`` steps). With the iterator's device feed, each step fetches its own batch, and
        a run of batches of one shape is one replay of that many steps (one CUDA graph launch on a GPU);
        else each batch is copied into the slot before its step."""
        feed = iterator.feed
        first = 0
        while first < len(batches):
            batch = batches[first]
            slot = self.slot(batch.rows, batch.global_rows, y_sample_shape, y_dtype, weights_shape)
            if feed is None:
                iterator.fill(batch, slot)
                self._steps(self._states[slot.key], None, 1)
                first += 1
                continue
            shape = (batch.rows, batch.global_rows, batch.offset)
            end = first + 1
            while end < len(batches) and (batches[end].rows, batches[end].global_rows, batches[end].offset) == shape:
                end += 1
            self._steps(self._states[slot.key], _FeedSource(feed, batch.offset, batch.global_rows), end - first)
            first = end

    def _steps(self, state: _SizedState, source: _FeedSource | None, count: int) -> None:
        """``count`` steps on the slot's batch shape; ``source``: where each fetches its batch (None: it is in
        the slot already: each step runs on that batch)."""
        # (another thread's computations wait: compute_turns.py; the user's losses and metrics computing meanwhile
        # may not run this model's layers: step_calls.py)
        with compute_turns.turn(self.ops), step_calls.stepping(self.model):
            # A layer shared with another model computes with that model's buffers after it ran: take it back first.
            self.model._claim_layers()
            if self.model._store is not self._store:
                self._follow_new_buffers()
            # Eager, recorded and replayed steps all run under the backend's step conditions (on CuPy: its own
            # reduction kernels, not CUB's), so an eager step computes what its CUDA graph computes, bit for bit,
            # and takes no memory from the pool after its first run.
            optimizer = self.model.optimizer
            counted_before = optimizer.step_count
            try:
                with OutOfMemoryGuard(self.ops, state.slot.global_rows), self.ops.step_conditions():
                    if not self.jit:
                        for _ in range(count):
                            with step_interrupts.step():
                                self._run(state, None, source)
                    else:
                        self._replay(state, source, count)
            except BaseException:
                # A step stopped by an exception of the script's code (a loss, a metric, a layer): the steps before
                # it are done, and a replay of several stopped inside has advanced the device's step count but not
                # the host's, which Adam's bias correction and the schedules do not read: the host takes the
                # device's.
                optimizer.sync_step_count()
                count = optimizer.step_count - counted_before if self.model.params.size else 0
                raise
            finally:
                for _ in range(count):
                    self.metrics.count_batch(state.slot.rows)

    def _replay(self, state: _SizedState, source: _FeedSource | None, count: int) -> None:
        """``count`` recorded steps: a recording's replays, each run of them a step for the signals (see
        ``step_interrupts``), as Keras runs ``steps_per_execution`` steps as one compiled function."""
        optimizer = self.model.optimizer
        signature = self._recording_signature()
        # One recording per way of getting the batch (in the slot already, or fetched from a feed) and, with
        # gradient accumulation, per kind of step (between updates, or the update's): the host knows which
        # steps are which, so each replay does only its own kind's work.
        for phase, steps in accumulation.phase_runs(optimizer.step_count, optimizer.gradient_accumulation_steps,
                                                    count):
            key = (source is not None, phase)
            recorded = state.recordings.get(key)
            done = 0
            if recorded is None or not recorded.serves(signature, source):
                with step_interrupts.step():
                    with Recording(self.ops) as tape:
                        self._run(state, tape, source)
                self.ops.optimize_recording(tape)  # the replays' calls; this step ran the recorded ones
                recorded = state.recordings[key] = _Recorded(tape, signature, source)
                done = 1
            if steps > done:
                runner = self._runner(recorded, steps - done)
                with step_interrupts.step():
                    runner()
                    for _ in range(steps - done if self.model.params.size else 0):
                        optimizer.count_step()  # the host's count; the replays advanced the device's

    def _runner(self, recorded: _Recorded, repeats: int):
        """``repeats`` replays of a recording, compiled once (a CUDA graph on a GPU, when it can be captured)."""
        runner = recorded.runners.get(repeats)
        if runner is None:
            runner = recorded.runners[repeats] = self._compile_replays(recorded.tape, repeats)
        return runner

    def _compile_replays(self, tape, repeats: int):
        if not self._capture_refused:
            try:
                runner, refused = self.ops.compile_replays(tape, repeats), None
            except CaptureRefused as exc:
                runner, refused = None, str(exc)
            reducer = self._reducer
            collectives_inside = reducer is not None and reducer.device_only
            if collectives_inside:
                # A graph holding NCCL collectives is launched collectively: every rank replays its graph or
                # none does (NCCL's rule for captured operations), so ranks agree on the outcome first.
                refusals = int(np.asarray(self.comm.allreduce_host(np.array([int(refused is not None)])))[0])
                if refused is None and refusals:
                    refused = f"{refusals} other rank(s) could not capture theirs, and ranks replay graphs together"
            if refused is None:
                return _then(runner, functools.partial(reducer.after_replay, repeats)) if collectives_inside else runner
            self._capture_refused = True
            setting = "jit_compile=True" if self.model._jit_compile is True else 'jit_compile="auto" (on a GPU: graphs)'
            warnings.warn(f"{setting}: the training step could not be captured as a CUDA graph ({refused}); "
                          "it is replayed call by call instead: same results, less of the speed-up",
                          GraphFallbackWarning, stacklevel=user_stacklevel())
        return Ops.compile_replays(self.ops, tape, repeats)

    def _recording_signature(self):
        """What a recording depends on beyond its buffers: the optimizer's hyperparameters that reach kernels
        as host values (the learning rate and step count do not: they live on the device), and the GPU's TF32
        switch (a captured GEMM keeps the math mode it was captured with), and the loss weights given as variables.
        """
        return (self.model.optimizer.config_version, bool(self.ops.allow_tf32),
                compiled_outputs.variable_loss_weights(self.plan.outputs))

    def _run(self, state: _SizedState, tape, source: _FeedSource | None = None) -> None:
        ops, plan, model, slot = self.ops, self.plan, self.model, state.slot
        call = tape.call if tape is not None else _call
        if source is not None:
            source.gather_into(slot)
        with regularizers.in_training_step():  # (a regularizer of the script's runs once: its gradient kept)
            penalty = weight_penalty(plan, ops, state.ws, model.params.dtype)
        outputs: dict = {}
        with step_state_updates.collected() as state_updates:
            output, backprops = run_forward(plan, slot.x, training=True, outputs=outputs)
        if outputs:
            penalty = activity.penalty(plan, ops, state.ws, outputs, penalty, slot.rows, slot.global_rows,
                                       model.params.dtype)
            activity.add_gradients(plan, ops, outputs, backprops, slot.rows, slot.global_rows)
        penalty = layer_losses.penalty(plan, ops, state.ws, penalty, slot.rows, slot.global_rows, model.params.dtype)
        batch = output_losses.compute(plan, ops, state.loss_ws, output, slot.y, slot.w, 1.0 / slot.global_rows,
                                      x=slot.x)
        reducer = self._reducer
        layer_done = None if reducer is None else (
            lambda index: call(reducer.layer_done, index, device=reducer.device_only))
        wiring.backward(plan.layers, plan.sources, backprops, batch.gradients, plan.need_dx, ops, state.ws, layer_done)
        if reducer is not None:
            call(reducer.wait, device=reducer.device_only)
        if plan.has_regularizers:
            for layer in plan.layers:
                layer.add_regularization_gradients()
        # The metric sums before the update (they read this batch's outputs, which the update leaves as they are),
        # so that a metric of the script's that raises stops the step before any weight moved
        self.metrics.accumulate(batch.per_sample, penalty, *batch.metric_inputs(), batch.parts, batch.weights,
                                batch.mask)
        step_state_updates.commit(state_updates)  # (the moving statistics; made now, as the step will complete)
        if model.params.size:  # (nothing trained: Keras's optimizer returns before counting the step)
            model.optimizer.apply(model.params, model.grads)
        if plan.has_constraints:
            for layer in plan.layers:
                layer.apply_constraints()


def _call(function, *args, device: bool = False):
    return function(*args)


def _then(first, second):
    def both() -> None:
        first()
        second()

    return both
