"""``keras.preprocessing``: the names Keras 3 keeps there for scripts written for tf.keras 2
(``keras.preprocessing.sequence.pad_sequences``, ``keras.preprocessing.timeseries_dataset_from_array``,
``keras.preprocessing.text_dataset_from_directory``, ``keras.preprocessing.image_dataset_from_directory``,
``keras.preprocessing.image.load_img``...), and tf.keras 2's ``keras.preprocessing.text`` (its ``Tokenizer``)."""
from ..utils.image_dataset import image_dataset_from_directory
from ..utils.text_dataset import text_dataset_from_directory
from ..utils.timeseries import timeseries_dataset_from_array
from . import image, sequence, text

__all__ = ["image", "sequence", "text", "image_dataset_from_directory", "text_dataset_from_directory",
           "timeseries_dataset_from_array"]
