"""tf.keras 2's ``tf.keras.layers.experimental`` namespace, which scripts of its era import from
(``from tensorflow.keras.layers.experimental import preprocessing``): its ``preprocessing`` layers are Keras 3's
preprocessing layers, under their older names and arguments where those differ (``preprocessing.py``)."""
from . import preprocessing

__all__ = ["preprocessing"]
