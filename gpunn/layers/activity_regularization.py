"""ActivityRegularization (Keras 3: ``keras/src/layers/regularization/activity_regularization.py``): passes its
inputs through and adds ``l1 * sum|x| + l2 * sum(x^2)``, over the batch size, to the loss (the layer's
``activity_regularizer``, an L1L2; ``trainer/activity.py`` adds the term and its gradient)."""
from __future__ import annotations

from .. import regularizers
from .base import Layer


class ActivityRegularization(Layer):
    supports_masking = True  # passes its input's mask on, as in Keras (masking.py)

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        kwargs.pop("activity_regularizer", None)  # a config read back holds none (get_config leaves it out)
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = l1, l2

    def forward(self, x, training):
        return x, (lambda dy, need_dx=True: dy if need_dx else None)

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}
