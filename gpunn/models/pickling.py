"""Models through Python's pickle protocol, as Keras 3's (``KerasSaveable.__reduce__``): what joblib, a
multiprocessing pool, ``copy.deepcopy`` and sklearn's pickled estimators use. The model travels as the bytes of its
``.keras`` file (architecture, weights, compile settings, optimizer state) and comes back through ``load_model``'s
reader; no Python object of the model itself is pickled."""
from __future__ import annotations

PICKLED_MODEL = "<pickled model>"  # the name a pickled model's errors give in place of a file path


def reduce_model(model):
    """``model.__reduce__()``: how to make it again, from its ``.keras`` bytes; a model of the user's class with the
    class too (pickled by reference, as pickle takes a class), which the file names and the load makes again."""
    from ..overrides import is_gpunn_class
    from .keras_format import model_file_bytes

    model._require_built("pickle")  # an unbuilt model has no file to travel as (as model.save)
    data = model_file_bytes(model, include_optimizer=True)
    if is_gpunn_class(type(model)):
        return model_from_pickled_bytes, (data,)
    return model_from_pickled_bytes, (data, type(model))


def model_from_pickled_bytes(data: bytes, cls=None):
    """The model a pickle held (other classes of the user's are found as ``load_model`` finds them: registered, or
    in a ``custom_object_scope``)."""
    from ..custom_objects import custom_object_scope, get_registered_name
    from .load import load_model_bytes

    try:
        with custom_object_scope({} if cls is None else {get_registered_name(cls): cls, cls.__name__: cls}):
            return load_model_bytes(PICKLED_MODEL, data, compile=True)
    except ValueError as exc:  # a class of the user's not found, most likely: say where pickle.loads finds them
        if exc.args and isinstance(exc.args[0], str):
            exc.args = (exc.args[0] + _WHERE_CLASSES_COME_FROM,) + exc.args[1:]
        raise


_WHERE_CLASSES_COME_FROM = (". Unpickled, a model finds the classes of the user's registered with "
                            "gpunn.saving.register_keras_serializable, or given by a gpunn.saving.custom_object_scope "
                            "around pickle.loads")
