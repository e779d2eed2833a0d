"""tf.keras 2's ``keras.losses.Reduction`` (Keras 3 keeps it as ``keras._legacy.losses.Reduction``, exported in its
tf.keras namespace): the names of a loss's reductions, which scripts pass as ``reduction=Reduction.SUM``. gpunn's
losses take the strings themselves; ``AUTO`` is tf.keras 2's "the mean over the batch"."""
from __future__ import annotations


class Reduction:
    AUTO = "auto"
    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"

    @classmethod
    def all(cls) -> tuple:
        return (cls.AUTO, cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE)

    @classmethod
    def validate(cls, key) -> None:
        if key not in cls.all():
            raise ValueError(f'Invalid Reduction Key: {key}. Expected keys are "{cls.all()}"')
