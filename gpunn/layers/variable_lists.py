"""Keras's second names for a layer's or a model's weight lists: ``variables``, ``trainable_variables`` and
``non_trainable_variables`` (keras/src/layers/layer.py), which custom training code and tutorials read
(``len(model.trainable_variables)``, ``bn.variables``).

Keras's ``variables`` is ``weights`` plus the state of the layer's SeedGenerators (Dropout, GaussianNoise...)
and is in the same order. gpunn's random layers draw from gpunn's generator, not from variables of their own,
so here ``variables`` is ``weights``: a Keras model with a Dropout layer lists one more variable.
"""
from __future__ import annotations


class KerasVariableLists:
    @property
    def variables(self) -> list:
        """The layer's Variables, in the order of ``weights`` (Keras also adds its random layers' seed states)."""
        return self.weights

    @property
    def trainable_variables(self) -> list:
        """``trainable_weights``, as in Keras."""
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list:
        """``non_trainable_weights``, as in Keras."""
        return self.non_trainable_weights
