"""``keras.utils.FeatureSpace`` (Keras 3: ``keras/src/layers/preprocessing/feature_space.py``): one object that
preprocesses and encodes a table's features, each by the preprocessing layer its type names, and crosses of them,
into one vector per sample ("concat") or a dict of encoded features ("dict").

Keras's structured-data tutorials use it three ways, and so can gpunn's users:

- ``feature_space.adapt(dataset)`` learns each feature's vocabulary, mean and variance or bins from a
  ``tf.data.Dataset`` of feature dicts, or a dict of columns (Keras batches it by 32; the batches matter to the
  approximate quantiles of the bins, and gpunn takes the same ones).
- ``feature_space(x)`` on a dict of arrays (a batch, or one sample of scalars) encodes them on the host; inside
  ``dataset.map`` it runs as one ``tf.numpy_function`` of the pipeline (``tf_pipeline.py``).
- ``get_inputs()`` / ``get_encoded_features()`` are the functional graph from the raw features' ``keras.Input``s
  (one value per sample: ``shape=(1,)``, dtype float32, int32 or string) through the same layers to the encoded
  vector: a training model takes the encoded vector as its input (``keras.Model(inputs=encoded_features, ...)``)
  and an inference model the raw features (``keras.Model(inputs=dict_inputs, ...)``), sharing their layers.

Each feature's one-hot row is a ``CategoryEncoding`` of its index (multi_hot, of the lookup's vocabulary size,
the number of bins or hash bins); crosses are ``HashedCrossing``s of the preprocessed features (their indices).
The encoded features are in the order of their sorted names, then the crosses' sorted names.

Where gpunn differs: a FeatureSpace is also adapted on a pandas DataFrame (by its columns); a feature whose layer
was given its vocabulary or bin boundaries is not adapted (Keras fails adapting it); a float_discretized feature
given ``bin_boundaries`` is one-hot encoded over len(bin_boundaries) + 1 bins (Keras cannot encode it); data with a
missing or an unknown feature is refused by name; adapted again to data whose vocabulary size differs, it says
that its encodings (and the models made from them) no longer fit, where Keras goes on with stale ones. Outputs
have Keras's dtypes: float32 (one-hot, float), int64 indices and int32 bins ("int"). The inputs of
``get_inputs()`` declare an integer or string dtype as their ``input_dtype`` (their ``dtype`` is the model's float
dtype, which a gpunn model computes in).
"""
from __future__ import annotations

import numpy as np

from . import numeric_arguments as numeric
from . import tf_pipeline
from .base import Layer, unique_name
from .category_encoding import CategoryEncoding
from .discretization import Discretization
from .feature_space_specs import Cross, Feature, FeatureIdentity, build_config, entry, from_entry
from .hashed_crossing import HashedCrossing
from .hashing import Hashing
from .integer_lookup import IntegerLookup
from .merging import Concatenate
from .preprocessing_normalization import Normalization
from .rescaling import Rescaling
from .string_lookup import StringLookup
from .text_data import text_array
from .text_vectorization import TextVectorization

_ADAPT_BATCH = 32  # Keras's batches for data given unbatched (a dict of columns, a dataset of single samples)


class FeatureSpace(Layer):
    """See the module docstring. ``features``: {name: a type's name ("float", "float_normalized",
    "float_rescaled", "float_discretized", "integer_categorical", "string_categorical", "integer_hashed",
    "string_hashed") or a ``FeatureSpace.<type>(...)``}; ``crosses``: tuples of feature names, or
    ``FeatureSpace.cross(...)``; ``output_mode``: "concat" or "dict"."""

    # ---- the feature types (Keras's class methods) ---------------------------------------------------------
    @classmethod
    def cross(cls, feature_names, crossing_dim, output_mode="one_hot"):
        return Cross(feature_names, crossing_dim, output_mode=output_mode)

    @classmethod
    def feature(cls, dtype, preprocessor, output_mode):
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name=None):
        name = name or unique_name("float")
        return Feature("float32", FeatureIdentity(name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_rescaled(cls, scale=1.0, offset=0.0, name=None):
        name = name or unique_name("float_rescaled")
        return Feature("float32", Rescaling(scale=scale, offset=offset, name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_normalized(cls, name=None):
        name = name or unique_name("float_normalized")
        return Feature("float32", Normalization(axis=-1, name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_discretized(cls, num_bins, bin_boundaries=None, output_mode="one_hot", name=None):
        name = name or unique_name("float_discretized")
        if bin_boundaries is not None:  # (Keras passes both to Discretization, which refuses them together)
            layer = Discretization(bin_boundaries=bin_boundaries, name=f"{name}_preprocessor")
        else:
            layer = Discretization(num_bins=num_bins, name=f"{name}_preprocessor")
        return Feature("float32", layer, output_mode)

    @classmethod
    def integer_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot", name=None):
        name = name or unique_name("integer_categorical")
        return Feature("int32", IntegerLookup(name=f"{name}_preprocessor", max_tokens=max_tokens,
                                       num_oov_indices=num_oov_indices), output_mode)

    @classmethod
    def string_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot", name=None):
        name = name or unique_name("string_categorical")
        return Feature("string", StringLookup(name=f"{name}_preprocessor", max_tokens=max_tokens,
                                        num_oov_indices=num_oov_indices), output_mode)

    @classmethod
    def string_hashed(cls, num_bins, output_mode="one_hot", name=None):
        name = name or unique_name("string_hashed")
        return Feature("string", Hashing(name=f"{name}_preprocessor", num_bins=num_bins), output_mode)

    @classmethod
    def integer_hashed(cls, num_bins, output_mode="one_hot", name=None):
        name = name or unique_name("integer_hashed")
        return Feature("int32", Hashing(name=f"{name}_preprocessor", num_bins=num_bins), output_mode)

    # ---- construction -------------------------------------------------------------------------------------
    def __init__(self, features, output_mode="concat", crosses=None, crossing_dim=32, hashing_dim=32,
                 num_discretization_bins=32, name=None):
        super().__init__(name=name)
        if not features:
            raise ValueError("features: cannot be None or empty; give a dict of {feature name: feature type}")
        if not isinstance(features, dict):
            raise TypeError(f"features: expected a dict of {{feature name: feature type}}, got "
                            f"{type(features).__name__}")
        if output_mode not in {"dict", "concat"}:
            raise ValueError(f"output_mode: expected one of {{'dict', 'concat'}}, got output_mode={output_mode!r}")
        self.crossing_dim, self.hashing_dim = crossing_dim, hashing_dim
        self.num_discretization_bins = num_discretization_bins
        self.output_mode = output_mode
        self.features = {str(key): self._standardize_feature(str(key), value) for key, value in features.items()}
        self.crosses = [self._standardize_cross(cross) for cross in crosses or ()]
        self.crosses_by_name = {cross.name: cross for cross in self.crosses}
        self.preprocessors = {key: feature.preprocessor for key, feature in self.features.items()}
        self.crossers = {cross.name: HashedCrossing(cross.crossing_dim, name=cross.name) for cross in self.crosses}
        self.inputs = {key: self._feature_input(key, feature) for key, feature in self.features.items()}
        self.one_hot_encoders: dict = {}
        self.encoded_features = None
        self._encoded_parts: dict = {}  # {output name: its encoded symbolic value}
        self.concat = None
        self._is_adapted = False
        self._sublayers_built = False

    def _standardize_feature(self, name: str, feature) -> Feature:
        if isinstance(feature, Feature):
            return feature
        if isinstance(feature, dict):
            return from_entry(Feature, feature)
        made = {"float": lambda: self.float(name=name),
                "float_normalized": lambda: self.float_normalized(name=name),
                "float_rescaled": lambda: self.float_rescaled(name=name),
                "float_discretized": lambda: self.float_discretized(self.num_discretization_bins, name=name),
                "integer_categorical": lambda: self.integer_categorical(name=name),
                "string_categorical": lambda: self.string_categorical(name=name),
                "integer_hashed": lambda: self.integer_hashed(self.hashing_dim, name=name),
                "string_hashed": lambda: self.string_hashed(self.hashing_dim, name=name)}
        if not isinstance(feature, str) or feature not in made:
            raise ValueError(f"features: invalid feature type {feature!r} for feature {name!r}; expected one of "
                             f"{sorted(made)} or a FeatureSpace.<type>(...) feature")
        return made[feature]()

    def _standardize_cross(self, cross) -> Cross:
        if isinstance(cross, (Cross, dict)):
            cross = from_entry(Cross, cross)
        else:
            if not self.crossing_dim:
                raise ValueError("crossing_dim: when specifying crosses, the dimensionality of the crossing space "
                                 "should be given as well")
            cross = Cross(cross, crossing_dim=self.crossing_dim)
        unknown = [key for key in cross.feature_names if key not in self.features]
        if unknown:
            raise ValueError(f"crosses: all features referenced in crosses should be present in the features "
                             f"dict; got unknown features {unknown} in the cross {cross.feature_names}")
        return cross

    @staticmethod
    def _feature_input(name: str, feature: Feature):
        from .input_layer import Input

        return Input(shape=(1,), dtype=feature.dtype, name=name)

    # ---- adapt --------------------------------------------------------------------------------------------
    def _adaptable(self) -> list:
        """The features whose layers learn from data (those given a vocabulary, a mean or bins are not)."""
        names = []
        for name, layer in self.preprocessors.items():
            if isinstance(layer, Normalization) and layer.input_mean is not None:
                continue
            lookup = getattr(layer, "_lookup", layer)  # (TextVectorization's vocabulary is its lookup's)
            if getattr(lookup, "_has_input_vocabulary", False):
                continue
            if isinstance(layer, Discretization) and layer.num_bins is None:
                continue
            if hasattr(layer, "adapt"):
                names.append(name)
        return names

    def adapt(self, dataset):
        """Learn each feature's vocabulary, mean and variance or bins from ``dataset``: a ``tf.data.Dataset``
        of feature dicts (no labels: ``dataset.map(lambda x, y: x)``), or a dict of columns (a pandas DataFrame
        too)."""
        encoded_for = {name: encoder.num_tokens for name, encoder in self.one_hot_encoders.items()}
        if tf_pipeline.is_tf_dataset(dataset):
            for name in self._adaptable():  # (one pass over the dataset per feature, as Keras makes)
                self.preprocessors[name].adapt(_dataset_column(dataset, name))
        else:
            batches = _dict_batches(dataset)
            for name in self._adaptable():
                self.preprocessors[name].adapt(_as_batch(batch[name]) for batch in batches)
        changed = {name: (size, _cardinality(self._layer_of(name))) for name, size in encoded_for.items()
                   if _cardinality(self._layer_of(name)) != size}
        if changed:  # (the encoders, and the models made of them, were made for the sizes learned before)
            name, (before, now) = next(iter(changed.items()))
            raise ValueError(f"dataset: adapted again, feature {name!r} now has {now} values to encode where its "
                             f"encoded features (and the models made from them) were made for {before}; make a "
                             "new FeatureSpace to adapt it to other data")
        self._is_adapted = True
        self.get_encoded_features()  # (makes the encoders, knowing the vocabularies' sizes)
        self.built = True

    def _check_if_adapted(self) -> None:
        if not self._is_adapted:
            if self._adaptable():
                raise ValueError("You need to call `.adapt(dataset)` on the FeatureSpace before you can start "
                                 "using it.")
            self._is_adapted = True

    def _check_if_built(self) -> None:
        if not self._sublayers_built:
            self._check_if_adapted()
            self.get_encoded_features()

    # ---- the functional graph -----------------------------------------------------------------------------
    def get_inputs(self) -> dict:
        """{feature name: its ``keras.Input`` (shape (1,), the feature's dtype)}."""
        self._check_if_built()
        return self.inputs

    def get_encoded_features(self):
        """The encoded features of ``get_inputs()``: one symbolic vector ("concat"), or a dict of them ("dict")."""
        self._check_if_adapted()
        if self.encoded_features is None:
            preprocessed = {name: self.preprocessors[name](self.inputs[name]) for name in self.features}
            crossed = {cross.name: self.crossers[cross.name]([preprocessed[key] for key in cross.feature_names])
                       for cross in self.crosses}
            self._make_encoders()
            self._encoded_parts = {name: self._encoder_of(name, value)
                                   for name, value in {**preprocessed, **crossed}.items()}
            self.encoded_features = self._merged(self._encoded_parts, symbolic_values=True)
        return self.encoded_features

    def _output_names(self) -> list:
        return sorted(self.features) + sorted(self.crosses_by_name)

    def _spec(self, name: str):
        return self.features[name] if name in self.features else self.crosses_by_name[name]

    def _layer_of(self, name: str):
        return self.preprocessors[name] if name in self.features else self.crossers[name]

    def _make_encoders(self) -> None:
        """Keras's checks and its one-hot encoders (a CategoryEncoding of each one-hot feature's cardinality);
        the concat layer."""
        for name in self._output_names():
            spec, layer = self._spec(name), self._layer_of(name)
            if spec.output_mode == "one_hot" and name not in self.one_hot_encoders:
                if not _outputs_indices(layer):
                    raise ValueError(f"Feature '{name}' has `output_mode='one_hot'`. Thus its preprocessor should "
                                     f"return integer indices; its {type(layer).__name__} returns floats")
                cardinality = _cardinality(layer)
                if cardinality is None:
                    raise ValueError(f"Feature '{name}' has `output_mode='one_hot'`. However it isn't a standard "
                                     "feature and the dimensionality of its output space is not known, thus it "
                                     "cannot be one-hot encoded. Try using `output_mode='int'`.")
                self.one_hot_encoders[name] = CategoryEncoding(num_tokens=cardinality, output_mode="multi_hot")
            if self.output_mode == "concat" and spec.output_mode != "one_hot" and (
                    _outputs_indices(layer) or _outputs_text(layer)):
                raise ValueError(f"Cannot concatenate features because feature '{name}' has not been encoded (its "
                                 f"{type(layer).__name__} returns {'strings' if _outputs_text(layer) else 'indices'})"
                                 ". Consider using `output_mode='dict'`.")
        if self.output_mode == "concat" and self.concat is None:
            self.concat = Concatenate(axis=-1)
        self._sublayers_built = True

    def _encoder_of(self, name: str, value):
        encoder = self.one_hot_encoders.get(name)
        return value if encoder is None else encoder(value)

    def _merged(self, encoded: dict, symbolic_values: bool):
        names = self._output_names()
        if self.output_mode == "dict":
            return {name: encoded[name] for name in names}
        values = [encoded[name] for name in names]
        if not symbolic_values:
            return np.concatenate([np.asarray(value, dtype=np.float32) for value in values], axis=-1)
        return values[0] if len(values) == 1 else self.concat(values)

    # ---- calls on data ------------------------------------------------------------------------------------
    def __call__(self, data):
        """The encoded features of ``data``, a dict of {feature name: a batch of values (or one value)}."""
        self._check_if_built()
        if not isinstance(data, dict):
            raise ValueError(f"data: a FeatureSpace can only be called with a dict of features, got "
                             f"{type(data).__name__}")
        self._check_keys(data)
        if any(map(tf_pipeline.is_pipeline_tensor, data.values())):
            return self._call_in_pipeline(data)
        arrays = {name: _host_array(name, value) for name, value in data.items()}
        rebatched = any(array.ndim == 0 for array in arrays.values())
        results = self._encode({name: _as_batch(array) for name, array in arrays.items()})
        if rebatched:
            results = [result[0] if result.ndim == 2 and result.shape[0] == 1 else result for result in results]
        return self._as_output([self._as_backend(result) for result in results])

    def _check_keys(self, data: dict) -> None:
        missing = sorted(set(self.features) - set(map(str, data)))
        unknown = sorted(set(map(str, data)) - set(self.features))
        if missing or unknown:
            raise ValueError("data: expected a dict of the FeatureSpace's features " + str(sorted(self.features))
                             + (f"; missing {missing}" if missing else "")
                             + (f"; unknown {unknown}" if unknown else ""))

    def _encode(self, batches: dict) -> list:
        """The outputs (in ``_output_names`` order, or the one concatenated vector) for batches of (n, 1)
        arrays, on the host."""
        preprocessed = {name: self._preprocessed(name, batches[name]) for name in self.features}
        crossed = {cross.name: _on_host(self.crossers[cross.name]([preprocessed[key] for key in cross.feature_names]))
                   for cross in self.crosses}
        encoded = {}
        for name, value in {**preprocessed, **crossed}.items():
            value = _on_host(self._encoder_of(name, value))
            spec = self._spec(name)
            layer = self._layer_of(name)
            encoded[name] = value.astype(layer.keras_int_dtype) if spec.output_mode == "int" and _outputs_indices(
                layer) else value if value.dtype.kind in "OUS" else value.astype(np.float32)
        merged = self._merged(encoded, symbolic_values=False)
        return [merged] if self.output_mode == "concat" else list(merged.values())

    def _preprocessed(self, name: str, batch: np.ndarray) -> np.ndarray:
        """A feature's batch through its layer, an error naming the feature."""
        try:
            return _on_host(self.preprocessors[name](batch))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"feature {name!r}: {exc}") from None

    def _as_output(self, results: list):
        return results[0] if self.output_mode == "concat" else dict(zip(self._output_names(), results))

    def _as_backend(self, array: np.ndarray):
        if array.dtype.kind in "OUS":
            return array
        from ..ops import get_ops
        from .calling import call_result

        ops = get_ops()
        return call_result(ops, ops.asarray(array))

    def _call_in_pipeline(self, data: dict):
        """Inside ``dataset.map``: one ``tf.numpy_function`` over the features, of Keras's dtypes and static
        shapes."""
        scalar = all(not value.shape.as_list() for value in data.values() if tf_pipeline.is_pipeline_tensor(value))
        names = [self._output_names()] if self.output_mode == "concat" else [[name] for name in self._output_names()]
        outputs = []
        for group in names:
            width = sum(self._width(name) for name in group)
            dtype = "float32" if self.output_mode == "concat" else self._output_dtype(group[0])
            outputs.append((dtype, [width] if scalar else [None, width]))

        def run(arrays: dict) -> list:
            arrays = {name: _host_array(name, value) for name, value in arrays.items()}
            results = self._encode({name: _as_batch(array) for name, array in arrays.items()})
            return [result[0] for result in results] if scalar else results

        return self._as_output(tf_pipeline.call_on_dict_in_pipeline(run, dict(data), outputs))

    def _width(self, name: str) -> int:
        """The width of a feature's encoded output (its encoded symbolic value's)."""
        return int(np.prod(self._encoded_parts[name].shape[1:]))

    def _output_dtype(self, name: str) -> str:
        layer = self._layer_of(name)
        if name in self.one_hot_encoders:
            return "float32"
        if _outputs_text(layer):
            return "string"
        return layer.keras_int_dtype if _outputs_indices(layer) else "float32"

    # ---- configs and files --------------------------------------------------------------------------------
    def get_config(self) -> dict:
        return {"features": {name: entry(feature, feature.get_config()) for name, feature in self.features.items()},
                "output_mode": self.output_mode,
                "crosses": [entry(cross, cross.get_config()) for cross in self.crosses],
                "crossing_dim": self.crossing_dim, "hashing_dim": self.hashing_dim,
                "num_discretization_bins": self.num_discretization_bins}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config.pop("name", None)  # (Keras's config has none)
        return cls(**config)

    def get_build_config(self) -> dict:
        return {name: build_config(feature.preprocessor) for name, feature in self.features.items()}

    def build_from_config(self, config: dict) -> None:
        self._is_adapted = True

    def save(self, filepath) -> None:
        """Save the FeatureSpace to a ``.keras`` file (``keras.models.load_model`` reads it back, in gpunn and
        Keras)."""
        from ..models import feature_space_files

        feature_space_files.save_feature_space(self, filepath)

    def __repr__(self) -> str:
        return f"<FeatureSpace name={self.name!r} features={list(self.features)} output_mode={self.output_mode!r}>"


# ---- what the preprocessing layers give ------------------------------------------------------------------------
_LOOKUPS = (IntegerLookup, StringLookup)


def _outputs_indices(layer) -> bool:
    """Whether ``layer`` outputs integer indices (which a one-hot encoding takes)."""
    if isinstance(layer, _LOOKUPS):
        return layer.output_mode == "int" and not layer.invert
    if isinstance(layer, (Discretization, HashedCrossing, Hashing, TextVectorization)):
        return layer.output_mode == "int"
    return False


def _outputs_text(layer) -> bool:
    return isinstance(layer, StringLookup) and layer.invert


def _cardinality(layer):
    """The number of indices ``layer`` outputs, as Keras's FeatureSpace knows it (None: not known; a
    TextVectorization is not a standard feature)."""
    if isinstance(layer, _LOOKUPS):
        return layer.vocabulary_size()
    if isinstance(layer, Discretization):
        return layer.depth
    if isinstance(layer, (HashedCrossing, Hashing)):
        return layer.num_bins
    return None


# ---- data -------------------------------------------------------------------------------------------------------
def _host_array(name: str, value) -> np.ndarray:
    """A feature's values as a NumPy array (from a list, a TF tensor, a CuPy or pandas array); strings as str."""
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    value = _on_host(value)
    if value.dtype.kind in "OSU":
        return text_array(f"data[{name!r}]", value)
    return value


def _on_host(value) -> np.ndarray:
    return np.asarray(numeric.on_host(value))  # (a CuPy or pandas array as NumPy's)


def _as_batch(array: np.ndarray) -> np.ndarray:
    """Keras's shapes for the layers: one value (a sample) as (1, 1), a batch of values (n,) as (n, 1)."""
    if array.ndim == 0:
        return array.reshape(1, 1)
    return array.reshape(-1, 1) if array.ndim == 1 else array


def _dict_batches(dataset) -> list:
    """The batches of a dict of columns (a pandas DataFrame's too) ``adapt`` learns from: 32 rows each, as Keras
    batches the dataset it makes of them."""
    if type(dataset).__module__.split(".")[0] == "pandas" and hasattr(dataset, "columns"):
        dataset = {str(column): dataset[column].to_numpy() for column in dataset.columns}
    if not isinstance(dataset, dict):
        raise ValueError("dataset: `adapt()` can only be called on a tf.data.Dataset or a dict of arrays/lists "
                         f"(or a pandas DataFrame); got {type(dataset).__name__}")
    columns = {str(key): _host_array(str(key), value) for key, value in dataset.items()}
    lengths = {len(column) if column.ndim else 1 for column in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"dataset: the columns of the dict should have one length, got lengths {sorted(lengths)}")
    rows = lengths.pop() if lengths else 0
    if rows == 0:
        raise ValueError("dataset: `adapt()` received no data (empty columns)")
    return [{key: column[start:start + _ADAPT_BATCH] for key, column in columns.items()}
            for start in range(0, rows, _ADAPT_BATCH)]


def _dataset_column(dataset, name: str):
    """One feature's batches of a tf.data.Dataset of feature dicts, each (n, 1), as Keras's FeatureSpace adapts a
    layer: it looks at the dataset's first element (the rank: single samples are batched by 32), then reads it
    again whole. (A dataset shuffling at each pass is shuffled anew by both, as in Keras.)"""
    first = next(iter(dataset), None)
    if first is None:
        raise ValueError("dataset: `adapt()` received an empty dataset")
    if not isinstance(first, dict):
        raise ValueError("dataset: expected a dataset of feature dicts (no labels), got elements of type "
                         f"{type(first).__name__}; map it first: dataset.map(lambda x, y: x)")
    if name not in first:
        raise ValueError(f"dataset: its feature dicts have no feature {name!r} (they have {sorted(first)})")
    single = np.ndim(first[name]) == 0
    pending = []
    for element in dataset:
        value = _host_array(name, element[name])
        if not single:
            yield _as_batch(value)
            continue
        pending.append(value)
        if len(pending) == _ADAPT_BATCH:
            yield _as_batch(np.stack(pending))
            pending = []
    if pending:
        yield _as_batch(np.stack(pending))
