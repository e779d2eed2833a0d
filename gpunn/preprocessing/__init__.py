"""``keras.preprocessing``: the names Keras 3 keeps there for scripts written for tf.keras 2
(``keras.preprocessing.sequence.pad_sequences``). Text and image pipelines are not part of gpunn."""
from . import sequence

__all__ = ["sequence"]
