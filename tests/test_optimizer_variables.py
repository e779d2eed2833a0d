"""``optimizer.variables`` and ``optimizer.set_weights``, as Keras 3's: the list of the optimizer's variables in
Keras's order, with its paths, names, shapes and values (checked against Keras itself), each a live view of
gpunn's state that reads and assigns; set_weights moves one optimizer's state into another."""
from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import assert_close_to_keras, numpy_backend, run_keras  # noqa: F401  (fixture)

import gpunn

CASE = r'''
import numpy as np


def run(module, name, arguments):
    module.utils.clear_session()  # generated names from their first ('adam', not 'adam_3'), in either library
    arguments = dict(arguments)
    if arguments.pop("decaying", False):
        arguments["learning_rate"] = module.optimizers.schedules.ExponentialDecay(0.01, 2, 0.5)
    model = module.Sequential([module.Input((3,)), module.layers.Dense(4, activation="tanh"), module.layers.Dense(2)])
    model.set_weights([(np.cos(np.arange(w.size) + k) * 0.5).astype("float32").reshape(w.shape)
                       for k, w in enumerate(model.get_weights())])
    model.compile(getattr(module.optimizers, name)(**arguments), "mse")
    before = [[v.path, list(v.shape)] for v in model.optimizer.variables]
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
    model.fit(x, x[:, :2] * 2, batch_size=4, epochs=2, shuffle=False, verbose=0)
    after = [[v.path, v.name, list(v.shape), str(v.dtype), np.asarray(v.numpy(), dtype=float).tolist()]
             for v in model.optimizer.variables]
    return {"before": before, "after": after}
'''
KERAS_MAIN = r'''
import json, sys
import keras
print(json.dumps([run(keras, name, arguments) for name, arguments in json.loads(sys.stdin.read())]))
'''
CASES = [["Adam", {"amsgrad": True}], ["SGD", {"momentum": 0.9}], ["RMSprop", {"centered": True, "momentum": 0.5}],
         ["Nadam", {}], ["Muon", {}], ["Adafactor", {}], ["Adam", {"use_ema": True, "gradient_accumulation_steps": 3}],
         ["AdamW", {"decaying": True}]]


@pytest.fixture(scope="module")
def both():
    theirs = run_keras(CASE + KERAS_MAIN, CASES)
    namespace: dict = {}
    exec(compile(CASE, "optimizer_variables_case.py", "exec"), namespace)
    with gpunn.use_backend("numpy"):
        ours = [json.loads(json.dumps(namespace["run"](gpunn, name, arguments))) for name, arguments in CASES]
    return ours, theirs


@pytest.mark.parametrize("index", range(len(CASES)))
def test_variables_are_keras_s_in_order_name_shape_and_value(both, index):
    ours, theirs = both[0][index], both[1][index]
    where = json.dumps(CASES[index])
    assert ours["before"] == theirs["before"], where  # before training: the step count and the rate alone
    assert len(ours["after"]) == len(theirs["after"]), where
    for (path, name, shape, dtype, value), (k_path, k_name, k_shape, k_dtype, k_value) in zip(ours["after"],
                                                                                              theirs["after"]):
        if k_path != "variable":  # Keras leaves Nadam's u_product unnamed; gpunn names it
            assert (path, name) == (k_path, k_name), where
        assert shape == k_shape, f"{path}; {where}"
        # Keras's count is int32 on jax, int64 elsewhere (gpunn's); Adafactor's placeholder for a weight it does
        # not factor is Keras's Variable(0), an int
        if name != "iteration" and not (k_shape == [] and "/" not in k_path):
            assert dtype == k_dtype, f"{path}; {where}"
        assert_close_to_keras(value, k_value, f"{path}; {where}")


def _trained(optimizer, epochs=1):
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
    gpunn.utils.set_random_seed(3)
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(4, activation="tanh"), gpunn.layers.Dense(2)])
    model.compile(optimizer, "mse")
    model.fit(x, x[:, :2], batch_size=4, epochs=epochs, shuffle=False, verbose=0)
    return model


def test_variables_are_live_views_that_assign(numpy_backend):
    model = _trained(gpunn.optimizers.Adam(), epochs=2)
    iteration, rate, momentum = model.optimizer.variables[:3]
    assert model.optimizer.name.startswith("adam")  # Keras's auto_name: 'adam', 'adam_1'...
    assert (iteration.path, int(iteration.numpy()), rate.name) == (f"{model.optimizer.name}/iteration", 4,
                                                                    "learning_rate")
    momentum.assign(np.full(momentum.shape, 0.25, np.float32))
    np.testing.assert_array_equal(model.optimizer.variables[2].numpy(), np.full((3, 4), 0.25, np.float32))
    iteration.assign(10)
    rate.assign(0.5)
    assert model.optimizer.iterations == 10 and model.optimizer.learning_rate == 0.5
    with pytest.raises(ValueError, match="shape"):
        momentum.assign(np.zeros((4, 3)))
    assert f"path={model.optimizer.name}/iteration" in repr(iteration)


def test_built_says_whether_the_first_step_made_the_state_as_keras_s(numpy_backend, tmp_path):
    optimizer = gpunn.optimizers.Adam()
    assert optimizer.built is False
    model = _trained(optimizer)
    assert optimizer.built is True
    model.save(tmp_path / "m.keras")
    assert gpunn.models.load_model(tmp_path / "m.keras").optimizer.built is True  # (its state read back)
    with pytest.raises(ValueError, match=r"build\(var_list\).*load the model with load_model, or run a step"):
        gpunn.optimizers.SGD().build(model.trainable_variables)  # Keras's recipe to restore an optimizer's state


def test_a_derived_value_refuses_an_assignment_by_name(numpy_backend):
    u_product = _trained(gpunn.optimizers.Nadam()).optimizer.variables[-1]
    assert u_product.name == "u_product"
    with pytest.raises(ValueError, match="u_product.*step count"):
        u_product.assign(0.5)


def test_set_weights_moves_the_state_and_training_goes_on_alike(numpy_backend):
    source = _trained(gpunn.optimizers.Adam(use_ema=True), epochs=2)
    target = _trained(gpunn.optimizers.Adam(use_ema=True))
    target.set_weights(source.get_weights())
    target.optimizer.set_weights([v.numpy() for v in source.optimizer.variables])
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
    for model in (source, target):
        model.fit(x, x[:, :2], batch_size=4, epochs=1, shuffle=False, verbose=0)
    for mine, theirs in zip(target.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def test_set_weights_checks_before_writing(numpy_backend):
    with pytest.raises(ValueError, match="not yet been built"):
        gpunn.optimizers.Adam().set_weights([])
    optimizer = _trained(gpunn.optimizers.SGD(momentum=0.9)).optimizer
    values = [v.numpy() for v in optimizer.variables]
    with pytest.raises(ValueError, match="weights: this SGD has 6 variables, got 5"):
        optimizer.set_weights(values[:5])
    with pytest.raises(ValueError, match="has shape"):
        optimizer.set_weights(values[:2] + [np.zeros((4, 3))] + values[3:])
    np.testing.assert_array_equal(optimizer.variables[2].numpy(), values[2])  # nothing was written


SUBCLASS_ORDER = r'''
import json, sys
import numpy as np


def run(module, folder):
    class Net(module.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.second = module.layers.Dense(3, name="second")  # set first, called second
            self.first = module.layers.Dense(3, name="first")
            self.head = module.layers.Dense(1, name="head")

        def call(self, x):
            return self.head(self.second(self.first(x)))

    x = np.linspace(-1, 1, 24).reshape(8, 3).astype("float32")
    y = np.linspace(0, 1, 8).reshape(8, 1).astype("float32")
    model = Net(name="net")
    model(x)
    model.set_weights([np.full(w.shape, 0.1 * (k + 1), "float32") for k, w in enumerate(model.get_weights())])
    model.compile(optimizer=module.optimizers.Adam(0.01), loss="mse")
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    variables = model.optimizer.variables
    return {"paths": [v.path for v in variables], "values": [np.asarray(v).tolist() for v in variables[2:]]}
'''


def test_a_subclassed_models_optimizer_variables_follow_its_attributes_as_in_keras(tmp_path_factory):
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(SUBCLASS_ORDER, tmp_path_factory)
    assert theirs["paths"][2] == "adam/net_second_kernel_momentum"
    assert ours["paths"] == theirs["paths"]
    for mine, keras_value in zip(ours["values"], theirs["values"], strict=True):
        np.testing.assert_allclose(mine, keras_value, rtol=1e-5, atol=1e-7)
