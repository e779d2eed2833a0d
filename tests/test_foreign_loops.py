"""Code of another framework's training loop (Keras's torch and jax guides) run on gpunn's objects gets what to
do instead: ``model.zero_grad()``, ``loss.backward()``, ``torch.sum(x)`` or ``jnp.sum(x)`` in a layer's call()."""
import numpy as np
import pytest

import gpunn
from gpunn.autodiff import Tensor
from helpers import numpy_backend  # noqa: F401  (fixture)

WHAT_INSTEAD = r"gpunn has no custom training loops: train with model.fit"


def _model():
    return gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2)])


def test_torch_module_methods_on_a_model_say_to_train_with_fit(numpy_backend):
    model = _model()
    for name in ("zero_grad", "parameters", "state_dict", "train", "eval"):
        with pytest.raises(AttributeError, match=rf"'Sequential' object has no attribute '{name}': {name}\(\) is a "
                                                 rf"torch.nn.Module method.*{WHAT_INSTEAD}"):
            getattr(model, name)
    with pytest.raises(AttributeError, match=r"^'Sequential' object has no attribute 'unknown'$"):
        model.unknown  # noqa: B018  (any other name: Python's message)
    assert not hasattr(model, "zero_grad") and getattr(model, "forward", None) is None


def test_a_torch_loss_backward_on_a_result_says_to_train_with_fit(numpy_backend):
    result = _model()(np.ones((1, 3), "float32"))
    with pytest.raises(AttributeError, match=rf"'CallResult' object has no attribute 'backward'.*torch.Tensor's.*"
                                             rf"{WHAT_INSTEAD}"):
        result.backward()
    with pytest.raises(AttributeError, match=r"^'CallResult' object has no attribute 'unknown'$"):
        result.unknown  # noqa: B018
    assert not hasattr(result, "__torch_function__")  # (torch.tensor(result) takes it as the array it is)


def test_a_torch_function_on_a_tensor_in_a_step_says_to_use_keras_ops():
    with pytest.raises(TypeError, match=r"torch function 'sum' was given a gpunn tensor.*keras.ops.sum\(x\) for "
                                        r"torch.sum\(x\)"):
        Tensor.__torch_function__(np.sum, (Tensor,), (Tensor(np.ones(2)),))  # (what torch calls on torch.sum(x))


def test_a_jax_function_in_a_layer_call_gets_a_note_saying_to_use_keras_ops(numpy_backend):
    jnp = pytest.importorskip("jax.numpy")

    class Penalty(gpunn.layers.Layer):
        def call(self, x):
            self.add_loss(jnp.sum(x))
            return x

    with pytest.raises(TypeError, match="not a valid JAX type") as caught:
        gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2), Penalty()])
    notes = "\n".join(caught.value.__notes__)
    assert "a jax.numpy function was given a gpunn tensor" in notes and "keras.ops.sum(x) for jax.numpy.sum(x)" in notes


def test_a_mixin_s_getattr_later_in_the_class_hierarchy_still_answers(numpy_backend):
    class Delegating:
        def __getattr__(self, name):
            if name.startswith("cfg_"):
                return "delegated"
            raise AttributeError(name)

    class Mixed(gpunn.Model, Delegating):
        def __init__(self):
            super().__init__()
            self.dense = gpunn.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    assert Mixed().cfg_rate == "delegated"
