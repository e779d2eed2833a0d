"""``compile(loss="crossentropy")`` (or ``"ce"``): Keras's ``compile_utils.get_loss`` picks binary, sparse
categorical or categorical cross-entropy from the first batch's shapes: binary for an output of one unit, sparse
categorical for labels that are class ids, categorical for one-hot labels. gpunn picks it the same way when the
training plan is made (``trainer/plan.py``), from the output's width and the labels' layout."""
from __future__ import annotations

from .losses import Loss

NAMES = ("crossentropy", "ce")


def is_chosen_from_shapes(identifier) -> bool:
    return isinstance(identifier, str) and identifier.strip().lower() in NAMES


class ShapeChosenCrossentropy(Loss):
    """Stands for the cross-entropy the first batch chooses (``choose``); computes nothing itself."""

    def __init__(self, name: str = "crossentropy"):
        super().__init__(name=name)

    def choose_for(self, labels, output_shape: tuple):
        """The cross-entropy for ``labels`` (an array of samples) and an output of sample shape ``output_shape``,
        by Keras's ``is_binary_or_sparse_categorical``: binary for an output of one unit, sparse categorical for
        labels of a lower rank or of one column (against several units), else categorical."""
        from .losses import BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy

        units = output_shape[-1] if output_shape else 1
        if units == 1:
            return BinaryCrossentropy()
        sparse = labels.ndim < 1 + len(output_shape) or labels.shape[-1] == 1
        return SparseCategoricalCrossentropy() if sparse else CategoricalCrossentropy()

    def call(self, y_true, y_pred):
        raise ValueError(f"loss: {self.name!r} is binary, sparse categorical or categorical cross-entropy, chosen "
                         "from the shapes of the first batch fit or evaluate takes, as in Keras; before that it "
                         "computes nothing")

    def get_config(self) -> dict:
        return {"name": self.name}
