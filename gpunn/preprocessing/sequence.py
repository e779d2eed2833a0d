"""``keras.preprocessing.sequence``: ``pad_sequences``, the function of ``gpunn.utils`` under its older address
(Keras 3 exports it under both, keras/src/utils/sequence_utils.py)."""
from ..utils.sequence_utils import pad_sequences

__all__ = ["pad_sequences"]
