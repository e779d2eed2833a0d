"""tf.keras 2's ``tf.keras.layers.experimental.preprocessing``: the preprocessing layers gpunn has (Keras 3's), with
what tf.keras 2.3-2.5 called differently taken as well: CategoryEncoding's ``max_tokens`` (Keras 3's
``num_tokens``) and the lookups' ``vocab_size()`` (``vocabulary_size()``, on the classes themselves)."""
from __future__ import annotations

from ..category_encoding import CategoryEncoding as _CategoryEncoding
from ..discretization import Discretization
from ..hashed_crossing import HashedCrossing
from ..hashing import Hashing
from ..image_preprocessing import (CenterCrop, RandomBrightness, RandomContrast, RandomCrop, RandomFlip,
                                   RandomRotation, RandomTranslation, RandomZoom, Resizing)
from ..integer_lookup import IntegerLookup
from ..preprocessing_normalization import Normalization
from ..rescaling import Rescaling
from ..string_lookup import StringLookup
from ..text_vectorization import TextVectorization


class CategoryEncoding(_CategoryEncoding):
    """Keras 3's CategoryEncoding, also taking tf.keras 2.3-2.5's name of ``num_tokens``, ``max_tokens``."""

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, max_tokens=None, **kwargs):
        if max_tokens is not None and num_tokens is not None and max_tokens != num_tokens:
            raise ValueError(f"max_tokens: tf.keras 2's name of num_tokens; give one of them, got num_tokens="
                             f"{num_tokens} and max_tokens={max_tokens}")
        super().__init__(num_tokens=num_tokens if num_tokens is not None else max_tokens, output_mode=output_mode,
                         sparse=sparse, **kwargs)


__all__ = ["CategoryEncoding", "Discretization", "HashedCrossing", "Hashing", "IntegerLookup", "Normalization",
           "Rescaling", "StringLookup", "TextVectorization", "Resizing", "CenterCrop", "RandomCrop", "RandomFlip",
           "RandomZoom", "RandomTranslation", "RandomRotation", "RandomContrast", "RandomBrightness"]
