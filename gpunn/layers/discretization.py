"""Discretization (Keras 3: ``keras/src/layers/preprocessing/discretization.py``): each value to the index of
its bin, ``bin_boundaries=[0., 1., 2.]`` making the bins (-inf, 0), [0, 1), [1, 2), [2, inf), then encoded as
``output_mode`` says ("int", "one_hot", "multi_hot", "count": ``categorical_outputs.py``).

The boundaries are given, or learned by ``adapt(data)`` for ``num_bins`` bins with Keras's approximate
quantiles (``approximate_quantiles.py``, Keras's algorithm and rounding: the same boundaries from the same
data and batches). An adapted layer keeps them in its config (``bin_boundaries`` beside ``num_bins``), as
Keras's does, so a saved model keeps them.

Where gpunn differs: the indices are compared in the model's dtype, float32 as Keras's (a float64 model
compares in float64, where Keras rounds to float32); boundaries must be in increasing order (Keras does not
check them; NumPy's digitize refuses others); "int" outputs are the model's floats, not int32;
``sparse=True`` is refused (Keras's jax backend refuses it too); ``num_bins=0``, which Keras accepts and then
fails to adapt, is refused by adapt with its name; data with NaN or inf is refused by adapt, whose
summaries it would spoil.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import approximate_quantiles as quantiles
from . import categorical_outputs as categorical
from . import numeric_arguments as numeric
from .base import Layer

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count")


def _checked_boundaries(bin_boundaries) -> list[float]:
    numeric.refuse_text("bin_boundaries", bin_boundaries, "Discretization")
    try:
        values = np.asarray(bin_boundaries, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"bin_boundaries: expected a list of numbers, got {bin_boundaries!r}") from None
    if values.ndim != 1:
        raise ValueError(f"bin_boundaries: expected a flat list of numbers, got shape {values.shape}")
    if not np.isfinite(values).all() or (np.diff(values) < 0).any():
        raise ValueError(f"bin_boundaries: expected finite numbers in increasing order, got {values.tolist()}")
    return values.tolist()


class Discretization(numeric.TakesNumbers, Layer):
    encodes_categories = True  # (a 1-D input is one sample in multi_hot / count modes: calling.py)
    keras_int_dtype = "int32"  # the dtype of Keras's "int" output: int32 bins (tf_pipeline.py)
    keras_dtype_by_name = True  # Keras's config names its dtype ("float32"), not a DTypePolicy

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int", sparse=False,
                 dtype=None, name=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.sparse = categorical.check_not_sparse(sparse)
        self.output_mode = categorical.check_output_mode(output_mode, OUTPUT_MODES, "Discretization")
        num_bins = numeric.integer_argument("num_bins", num_bins, allow_none=True)
        if num_bins is not None and num_bins < 0:
            raise ValueError(f"num_bins: must be greater than or equal to 0, got num_bins={num_bins}")
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(f"num_bins, bin_boundaries: give one of them, not both (got num_bins={num_bins} and "
                             f"bin_boundaries={bin_boundaries!r})")
        if num_bins is None and bin_boundaries is None:
            raise ValueError("num_bins, bin_boundaries: give either num_bins (and adapt the layer to data) or "
                             "bin_boundaries")
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not epsilon > 0:
            raise ValueError(f"epsilon: expected a number > 0 (the quantiles' error tolerance), got {epsilon!r}")
        self.bin_boundaries = None if bin_boundaries is None else _checked_boundaries(bin_boundaries)
        self.num_bins = num_bins
        self.epsilon = float(epsilon)
        self.summary = None if self.bin_boundaries else quantiles.empty_summary()

    @property
    def depth(self) -> int:
        """The number of bins: the boundaries' count + 1 once known, else ``num_bins``."""
        return len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else self.num_bins

    def output_sample_shape(self, input_shape):
        return categorical.output_shape(input_shape, self.output_mode, self.depth, f"Discretization {self.name!r}")

    def compute_output_shape(self, input_shape):
        return categorical.keras_output_shape(input_shape, self.output_mode, self.depth)

    # ---- adapt (Keras's adapt, update_state, finalize_state, reset_state) -----------------------------
    def adapt(self, data, steps=None):
        """Learn ``num_bins`` bins of about equal counts from ``data``: an array (NumPy, pandas) or an iterable
        of batches (a list is taken batch by batch, as Keras takes it; ``steps`` batches at most)."""
        if self.num_bins is None:
            raise ValueError("adapt: this Discretization was made with bin_boundaries; make it with num_bins to "
                             "learn them from data")
        if self.num_bins == 0:
            raise ValueError("num_bins: adapt needs num_bins >= 1, got num_bins=0")
        steps = numeric.integer_argument("steps", steps, minimum=1, allow_none=True)
        numeric.refuse_text("data", data, "Discretization")
        self.reset_state()
        if numeric.is_one_array(data):
            self.update_state(data)
        else:
            for batch in numeric.adapt_batches(data, steps):
                self.update_state(batch)
        self.finalize_state()

    def update_state(self, data):
        numeric.refuse_text("data", data, "Discretization")
        try:
            values = np.array(numeric.on_host(data)).astype("float32")
        except (TypeError, ValueError) as exc:
            raise TypeError(f"data: expected numbers, got {type(data).__name__} ({exc})") from None
        if not np.isfinite(values).all():
            raise ValueError("data: expected finite values to learn the bins from, found NaN or inf")
        if values.size == 0:
            raise ValueError("data: adapt() received an empty batch")
        summary = quantiles.summarize(values, self.epsilon)
        self.summary = quantiles.merge_summaries(summary, self.summary, self.epsilon)

    def finalize_state(self):
        if self.num_bins is None:
            return
        boundaries = quantiles.bin_boundaries(self.summary, self.num_bins)
        if self.built and self.output_mode != "int" and len(boundaries) + 1 != self.output_shape[-1]:
            raise ValueError(f"data: adapting gave {len(boundaries) + 1} bins, but layer {self.name!r} was built "
                             f"for {self.output_shape[-1]} (output_mode={self.output_mode!r}, num_bins="
                             f"{self.num_bins}): the data has too few distinct values; adapt before building the "
                             "model, or lower num_bins")
        self.bin_boundaries = boundaries

    def reset_state(self):
        if self.num_bins is None:
            return
        self.summary = quantiles.empty_summary()

    # ---- computation ----------------------------------------------------------------------------------
    def forward(self, x, training):
        if self.bin_boundaries is None:
            raise ValueError(f"layer {self.name!r}: Discretization needs its bin_boundaries: pass them when making "
                             "the layer, or call adapt(data) before using it")
        ops = self.ops
        ws = self.workspace(x.shape[0])
        indices = ws.buffer("indices", x.shape, x.dtype)
        categorical.write_indices(ops, x, indices, self._bins_of)
        y = categorical.encode(ops, ws, indices, self.output_mode, self.output_shape[-1], self.output_shape)
        return y, categorical.no_gradient(ops, ws, x)

    def _bins_of(self, values: np.ndarray) -> np.ndarray:
        """np.digitize(values, bin_boundaries), as Keras's, with the boundaries in the values' dtype."""
        boundaries = np.asarray(self.bin_boundaries, dtype=values.dtype)
        return np.searchsorted(boundaries, values, side="right")

    # ---- config ---------------------------------------------------------------------------------------
    def get_config(self):
        # Keras's keys only: its Discretization takes no other argument (no ``trainable``)
        config = {"bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins, "epsilon": self.epsilon,
                  "output_mode": self.output_mode, "sparse": self.sparse, "name": self.name, "dtype": self.declared_dtype}
        if self.declared_input_shape is not None:
            config["input_shape"] = list(self.declared_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            # an adapted layer (Keras's from_config): made with num_bins, then given what it learned
            boundaries = config.pop("bin_boundaries")
            layer = cls(**config)
            layer.bin_boundaries = _checked_boundaries(boundaries)
            layer.summary = None
            return layer
        return cls(**config)
