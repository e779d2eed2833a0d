"""Objects of Keras itself (keras, tf.keras, tf_keras) given where gpunn takes its own: the TensorFlow tutorials'
``metrics=[tf.metrics.BinaryAccuracy(threshold=0.0)]``, ``optimizer=tf.optimizers.Adam()`` or
``kernel_initializer=tf.initializers.zeros()``, which the import rename leaves Keras's. Each becomes gpunn's
object of the same class and config, as a Keras file holding it would give it (``serialization.py``); a class
gpunn lacks is refused by its name there.

Taken as a function instead, a Keras metric object would be averaged over the batches as its running result:
a silently wrong metric.
"""
from __future__ import annotations

_ROOTS = ("keras", "tf_keras", "tensorflow")
_MODULES = {"metric": "keras.metrics", "loss": "keras.losses", "optimizer": "keras.optimizers",
            "initializer": "keras.initializers", "regularizer": "keras.regularizers", "constraint": "keras.constraints"}


def is_keras_object(obj) -> bool:
    """Whether ``obj`` is an instance of one of Keras's classes (not gpunn's: those live in gpunn)."""
    return not isinstance(obj, type) and (type(obj).__module__ or "").split(".")[0] in _ROOTS and hasattr(
        obj, "get_config")


def refuse_foreign_variable(owner, name: str, value) -> None:
    """A TypeError for a variable of TensorFlow or Keras itself set as an attribute of a gpunn layer or model
    (``self.w = tf.Variable(0.)``, as "Python Machine Learning" ch13 writes one): gpunn would neither train it nor
    compute with it (Keras 3 too leaves a tf.Variable untrained, silently)."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
    for item in items:  # (a list or dict of them too)
        root = (type(item).__module__ or "").split(".")[0]
        if root in _ROOTS and "Variable" in type(item).__name__ and callable(getattr(item, "assign", None)):
            raise TypeError(f"{type(owner).__name__}.{name}: a {root} {type(item).__name__}, which gpunn neither "
                            "trains nor computes with; make it gpunn.Variable(...) (keras.Variable with gpunn's "
                            "imports) or self.add_weight(...)")


def as_gpunn(obj, kind: str):
    """gpunn's ``kind`` (a key of ``_MODULES``) of Keras's ``obj``: its class, made from its config."""
    from .serialization import deserialize_keras_object

    try:
        config = obj.get_config()
    except Exception as exc:  # (a Keras object whose config cannot be read: say which)
        raise TypeError(f"{kind}: the Keras {type(obj).__name__} given cannot be read by its config ({exc}); give "
                        f"gpunn's own (gpunn.{kind}s.{type(obj).__name__})") from None
    return deserialize_keras_object({"module": _MODULES[kind], "class_name": type(obj).__name__, "config": config,
                                     "registered_name": None})
