"""``keras.preprocessing``: the names Keras 3 keeps there for scripts written for tf.keras 2
(``keras.preprocessing.sequence.pad_sequences``, ``keras.preprocessing.timeseries_dataset_from_array``,
``keras.preprocessing.text_dataset_from_directory``). Image pipelines are not part of gpunn."""
from ..utils.text_dataset import text_dataset_from_directory
from ..utils.timeseries import timeseries_dataset_from_array
from . import sequence

__all__ = ["sequence", "text_dataset_from_directory", "timeseries_dataset_from_array"]
