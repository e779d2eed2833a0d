"""SeededLayer: a layer that draws random numbers from the counter-based hash of ``kernels/dropout.py``
(Dropout's masks, GaussianNoise's and GaussianDropout's normals).

Such a layer keeps only a seed and a count of its draws: the same (seed, counter) gives the same numbers on the
CPU and the GPU. The counter lives on the device, read by the kernels and advanced there by the step, so a
recorded (``jit_compile=True``) step draws new numbers at every replay and nothing random is frozen into it.
"""
from __future__ import annotations

import numpy as np

from .. import random as gpunn_random
from .base import Layer


def check_seed(seed):
    """None (drawn from gpunn's generator at build, so ``set_random_seed`` repeats runs) or an int."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"seed: expected an integer or None, got {seed!r}")
    return None if seed is None else int(seed)


class SeededLayer(Layer):
    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = check_seed(seed)  # the seed it draws with (drawn at build when none is given)
        # what get_config reports, as Keras's does: the argument given, so that a clone or a model made from the
        # config draws noise of its own (a model file carries the seed drawn as training state, ``restore_draws``)
        self._given_seed = self.seed
        self._host_counter = 0  # until the layer is bound to a device
        self._counter_buffer = None

    def build(self, input_shape):
        super().build(input_shape)
        if self.seed is None:
            self.seed = gpunn_random.new_seed()

    def bind(self, ops, weights, grads, trainable=True, owner=None):
        # One counter per backend: a layer shared by two models keeps drawing new numbers whichever model runs
        # it (and a recorded step of either model increments the buffer it recorded).
        moved = self._counter_buffer is None or self.ops is not ops
        counter = self.counter
        super().bind(ops, weights, grads, trainable, owner)
        if moved:
            self._counter_buffer = ops.asarray(np.array([counter], dtype=np.int64))

    @property
    def counter(self) -> int:
        """How many draws this layer has made (the RNG counter). It lives on the device, so a recorded step
        draws anew each time; reading it here is a device read."""
        if self._counter_buffer is None:
            return self._host_counter
        return int(self.ops.to_numpy(self._counter_buffer)[0])

    @counter.setter
    def counter(self, value: int) -> None:
        self._host_counter = int(value)
        if self._counter_buffer is not None:
            self.ops.fill(int(value), self._counter_buffer)

    def restore_draws(self, counter, seed=None) -> None:
        """The counter and the seed drawn that a model file saved (what fixes the draws still to come, so that
        training resumed after a load draws what it would have drawn without the save); ``seed`` None: the seed
        stays (files written before seeds were saved beside the counters held it in the layer's config)."""
        if seed is not None:
            self.seed = check_seed(seed)
        self.counter = int(counter)

    def advance_counter(self, ws) -> None:
        """One draw made: counter += 1 on the device (a recorded step replays this too)."""
        self.ops.add(self._counter_buffer, ws.constant("one", 1, np.int64), self._counter_buffer)

    def draw_normal(self, ws, name: str, like, mean: float, stddev: float):
        """A fresh normal draw shaped like ``like`` into the workspace buffer ``name``, then the counter
        advanced: the next step (or a replay of this one) draws anew."""
        values = self.ops.random_normal(self.seed, self._counter_buffer, mean, stddev,
                                        ws.buffer(name, like.shape, like.dtype))
        self.advance_counter(ws)
        return values

    def get_config(self):
        return {**super().get_config(), "seed": self._given_seed}
