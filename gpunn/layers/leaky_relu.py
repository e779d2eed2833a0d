"""LeakyReLU with Keras 3's argument ``negative_slope`` (default 0.3; ``keras/src/layers/activations/
leaky_relu.py``): f(x) = x for x >= 0, negative_slope * x otherwise. Keras 2's ``alpha`` is taken with
Keras 3's deprecation warning. Runs in the backend's fused activation step (leaky_relu, or relu for a slope of 0).
"""
from __future__ import annotations

import warnings

from .. import activations
from ..number_arguments import finite_number
from .pointwise_activation import PointwiseActivation


class LeakyReLU(PointwiseActivation):
    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.")  # Keras's message
        super().__init__(**kwargs)
        self.negative_slope = finite_number("negative_slope", negative_slope, 0.0)

    def fused_spec(self):
        if self.negative_slope == 0.0:
            return activations.ActivationSpec("relu", 0.0)
        return activations.ActivationSpec("leaky_relu", self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}
