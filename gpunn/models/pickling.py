"""Models through Python's pickle protocol, as Keras 3's (``KerasSaveable.__reduce__``): what joblib, a
multiprocessing pool, ``copy.deepcopy`` and sklearn's pickled estimators use. The model travels as the bytes of its
``.keras`` file (architecture, weights, compile settings, optimizer state) and comes back through ``load_model``'s
reader; no Python object of the model itself is pickled."""
from __future__ import annotations

PICKLED_MODEL = "<pickled model>"  # the name a pickled model's errors give in place of a file path


def reduce_model(model):
    """``model.__reduce__()``: how to make it again, from its ``.keras`` bytes."""
    from ..overrides import is_gpunn_class
    from .keras_format import model_file_bytes

    if not is_gpunn_class(type(model)):
        # its file holds the functional graph of its call(), which loads as a functional model: unpickled, it would
        # come back without the class's methods (a predict_step, say), a silent difference
        raise TypeError(f"pickle: a model of the user's class {type(model).__name__} would come back as a functional "
                        "model without its class's methods; pickle a Sequential or functional model, or save its "
                        f"weights (save_weights) and load them into a new {type(model).__name__}")
    model._require_built("pickle")  # an unbuilt model has no file to travel as (as model.save)
    return model_from_pickled_bytes, (model_file_bytes(model, include_optimizer=True),)


def model_from_pickled_bytes(data: bytes):
    """The model a pickle held (classes of the user's are found as ``load_model`` finds them: registered, or in a
    ``custom_object_scope``)."""
    from .load import load_model_bytes

    try:
        return load_model_bytes(PICKLED_MODEL, data, compile=True)
    except ValueError as exc:  # a class of the user's not found, most likely: say where pickle.loads finds them
        if exc.args and isinstance(exc.args[0], str):
            exc.args = (exc.args[0] + _WHERE_CLASSES_COME_FROM,) + exc.args[1:]
        raise


_WHERE_CLASSES_COME_FROM = (". Unpickled, a model finds the classes of the user's registered with "
                            "gpunn.saving.register_keras_serializable, or given by a gpunn.saving.custom_object_scope "
                            "around pickle.loads")
