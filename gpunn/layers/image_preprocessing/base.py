"""The base of Keras 3's image preprocessing layers (``keras/src/layers/preprocessing/image_preprocessing/``:
``BaseImagePreprocessingLayer``): layers of images of shape (height, width, channels) (or channels first), that
resize, crop, flip, move or recolour them, the random ones only in training.

Keras writes these layers as a ``call()`` on its ops; gpunn's are written the same way, on ``gpunn.ops``, and
run as a layer of the user's does (``user_layer.py``): each step's call is a host call, its gradient from
``gpunn/autodiff`` (the geometric ones pass the gradient back through their interpolation, so a layer inside a
model may be differentiated, as Keras's may). Their random draws come from a SeedGenerator of the layer's
(``gpunn.random``; NumPy's numbers, not Keras's backends'), drawn on the host at each call, so a recorded step
draws anew at every replay.

As in Keras: a random layer transforms in training and where nothing says otherwise (Keras's call defaults to
``training=True``): called on its own (``layer(images)``), or in a model called without ``training``
(``augment(images)``, a Sequential of them, as Keras's tutorials show augmented images); not in ``predict``,
``evaluate`` or ``model(x, training=False)``. A single image (rank 3) is taken as well as a batch; the output is in
the layer's compute dtype (float32), but for integer images given to a layer on its own that Keras gives back in
their type (``keeps_integers``). Bounding boxes, segmentation masks and dicts of them, which Keras's layers also
transform, are not taken: gpunn trains on images.
"""
from __future__ import annotations

import numpy as np

from ...config import standardize_data_format
from ... import random as gpunn_random
from ...autodiff import Tensor, array_module
from ...autodiff import functions as f
from .. import symbolic, tf_pipeline, user_layer
from ..base import Layer

SUPPORTED_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_OMITTED = object()  # ``training`` not given to a call: Keras's default, True
SUPPORTED_INTERPOLATIONS = ("nearest", "bilinear")


def check_fill_and_interpolation(fill_mode, interpolation) -> None:
    """RandomZoom's, RandomTranslation's and RandomRotation's checks, with Keras's exceptions and messages."""
    if fill_mode not in SUPPORTED_FILL_MODES:
        raise NotImplementedError(f"Unknown `fill_mode` {fill_mode}. Expected of one {SUPPORTED_FILL_MODES}.")
    if interpolation not in SUPPORTED_INTERPOLATIONS:
        raise NotImplementedError(f"Unknown `interpolation` {interpolation}. Expected of one "
                                  f"{SUPPORTED_INTERPOLATIONS}.")


def factor_range(factor, bounds: tuple, argument: str = "factor") -> tuple:
    """Keras's ``_set_factor`` (``_set_factor_by_name`` for another ``argument``: its message still says
    "factor="): a number x gives (-x, x) clipped to ``bounds``, a pair its sorted values."""
    low, high = bounds
    message = (f"The `{argument}` argument should be a number (or a list of two numbers) in the range [{low}, "
               f"{high}]. Received: factor={factor}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or factor[0] > high or factor[1] < low:
            raise ValueError(message)
        lower, upper = sorted(factor)
    elif isinstance(factor, (int, float)) and not isinstance(factor, bool):
        if factor < low or factor > high:
            raise ValueError(message)
        factor = abs(factor)
        lower, upper = max(-factor, low), factor
    else:
        raise ValueError(message)
    return lower, upper


def checked_pair(factor, argument: str, message: str, in_range, from_number) -> tuple:
    """The factor rules of Keras's layers that check their own (RandomZoom's, RandomTranslation's, RandomShear's,
    Solarization's): a pair, each value passing ``in_range``, as its sorted values; a number, passing it, as
    ``from_number(x)``; anything else refused. ``message``: Keras's text, before its "Received: ..."."""
    def check(value):
        if not in_range(value):
            raise ValueError(message + f"Received: input_number={value}")

    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(message + f"Received: {argument}={factor}")
        check(factor[0])
        check(factor[1])
        lower, upper = sorted(factor)
        return lower, upper
    if isinstance(factor, (int, float)) and not isinstance(factor, bool):
        check(factor)
        return from_number(factor)
    raise ValueError(message + f"Received: {argument}={factor}")


class ImagePreprocessingLayer(Layer):
    """``call(images, training=True)``: ``transform_images(images, training)`` on a batch of images in the
    layer's compute dtype. Subclasses define ``transform_images``, and ``output_sample_shape``
    where it is not the input's."""

    computes_in_call = True  # user_layer.runs_call: its computation is its call(), run as a user's layer's is
    training_by_default = True  # Keras's call(data, training=True): a model called without training transforms
    _USE_BASE_FACTOR = False  # whether ``factor`` is the layer's argument (Keras's _USE_BASE_FACTOR)
    _FACTOR_BOUNDS = (-1, 1)

    def __init__(self, factor=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        if self._USE_BASE_FACTOR:
            self._set_factor(factor or 0.0)
        elif factor is not None:
            raise ValueError(f"Layer {type(self).__name__} does not take a `factor` argument. Received: "
                             f"factor={factor}")

    def _set_factor(self, factor) -> None:
        self.factor = factor_range(factor, self._FACTOR_BOUNDS)

    # ---- axes ------------------------------------------------------------------------------------------------
    @property
    def height_axis(self) -> int:
        return -2 if self.data_format == "channels_first" else -3

    @property
    def width_axis(self) -> int:
        return -1 if self.data_format == "channels_first" else -2

    def image_size(self, shape) -> tuple[int, int]:
        return int(shape[self.height_axis]), int(shape[self.width_axis])

    # ---- calling -----------------------------------------------------------------------------------------------
    def __call__(self, inputs=None, *more, training=_OMITTED, mask=None, **keywords):
        """As any layer's, but on its own a random layer transforms unless told ``training=False`` (Keras's
        ``call(data, training=True)``; ``training=None`` given is falsy there: no transform), and a single image
        (rank 3) is one sample, not a batch of rows."""
        if tf_pipeline.is_pipeline_tensor(inputs):  # in tf.data's map: one host call on each batch's arrays
            return tf_pipeline.call_in_pipeline(self, inputs, None if training is _OMITTED else bool(training))
        if symbolic.is_symbolic(inputs) or user_layer.tracing() or more or keywords:
            training = None if training is _OMITTED else training
            return super().__call__(inputs, *more, training=training, mask=mask, **keywords)
        if training is _OMITTED:  # (inside a call given a mode: that mode, as Keras's call context hands it down)
            from ..calling import context_training

            training = True if context_training() is None else context_training()
        training = bool(training)
        values = inputs.value if isinstance(inputs, Tensor) else inputs
        if len(values.shape if hasattr(values, "shape") else np.shape(values)) == 3:  # one image
            batch = values[None] if hasattr(values, "shape") else np.asarray(values)[None]
            result = super().__call__(batch, training=training, mask=mask)[0]
        else:
            result = super().__call__(inputs, training=training, mask=mask)
        dtype = np.dtype(getattr(values, "dtype", np.float32))
        if dtype.kind in "ui" and self.keeps_integers(bool(training)):
            xp = array_module(result)  # Keras's: rounded, and saturated into the images' integer type
            info = np.iinfo(dtype)
            result = xp.clip(xp.rint(result), info.min, info.max).astype(dtype)
        return result

    def keeps_integers(self, training: bool) -> bool:
        """Whether, called on its own, the layer gives integer images back in their type (Keras's Resizing does,
        and the layers that pass images through in inference); the others give their compute dtype."""
        return False

    def build(self, input_shape):
        if len(tuple(input_shape)) != 3:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) takes images, samples of shape (height, "
                             f"width, channels) ({self.data_format}), got samples of shape {tuple(input_shape)}")
        user_layer.build_user_layer(self, input_shape)

    def forward(self, x, training):
        return user_layer.forward(self, x, training)

    def call(self, inputs, training=True):
        images = f.cast(inputs, self.dtype or "float32")
        return self.transform_images(images, bool(training))

    def transform_images(self, images, training: bool):
        raise NotImplementedError

    def output_sample_shape(self, input_shape):
        """A sample's output shape: the input's, but for the layers that resize or crop."""
        return tuple(input_shape)

    # ---- random draws ------------------------------------------------------------------------------------------
    def make_generator(self, seed) -> None:
        """The layer's SeedGenerator (Keras's ``self.generator = SeedGenerator(seed)``): seeded from gpunn's
        generator when ``seed`` is None, so ``set_random_seed`` repeats a run."""
        self.seed = seed
        self.generator = gpunn_random.SeedGenerator(seed)

    def draw(self, shape, minval, maxval) -> Tensor:
        """Uniform draws in [minval, maxval), float32 (Keras's); none while the layer is called on ones to learn
        its output shape (the lower bound then), so that building draws nothing from the layer's stream."""
        if self.in_trial():
            return Tensor(np.full(shape, minval, dtype=np.float32))
        return self.uniform(shape, minval, maxval)

    def in_trial(self) -> bool:
        """Whether the layer is being called on ones to learn its output shape (``user_layer``'s trial calls)."""
        called = user_layer.running_call()
        return called is not None and called[0] == "trial"

    def chosen_images(self, rows: int) -> Tensor:
        """Which of ``rows`` images a layer applied with a probability transforms, shaped (rows, 1, 1, 1): Keras's
        two draws, a probability per image in ``factor``'s range, then a threshold per image below which it
        applies (RandomInvert, RandomGaussianBlur, RandomErasing)."""
        probability = self.draw((rows,), self.factor[0], self.factor[1])
        threshold = self.draw((rows,), 0.0, 1.0)
        return f.reshape(f.less(threshold, probability), (rows, 1, 1, 1))

    def uniform(self, shape, minval, maxval) -> Tensor:
        """Uniform draws in [minval, maxval), float32, from the layer's generator."""
        return gpunn_random.uniform(shape, minval=minval, maxval=maxval, dtype="float32", seed=self.generator)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}

