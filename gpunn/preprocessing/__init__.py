"""``keras.preprocessing``: the names Keras 3 keeps there for scripts written for tf.keras 2
(``keras.preprocessing.sequence.pad_sequences``, ``keras.preprocessing.timeseries_dataset_from_array``). Text
and image pipelines are not part of gpunn."""
from ..utils.timeseries import timeseries_dataset_from_array
from . import sequence

__all__ = ["sequence", "timeseries_dataset_from_array"]
