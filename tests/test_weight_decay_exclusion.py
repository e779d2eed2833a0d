"""``optimizer.exclude_from_weight_decay(var_list=, var_names=)``, Keras's fine-tuning recipe (no decay on the
biases and normalization scales): trained as Keras trains, the same whether the step is eager or replayed, and
refused where gpunn cannot honour it."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

import gpunn
from gpunn import layers, optimizers

SCRIPT = r'''
import json, sys
import numpy as np


def run(keras, folder):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 5)).astype("float32")
    y = rng.standard_normal((32, 1)).astype("float32")
    seen = {}
    for case in ("names", "list", "none", "muon names", "muon list", "muon none"):
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, name="a"),
                                  keras.layers.LayerNormalization(name="n"), keras.layers.Dense(1, name="b")])
        model.set_weights([np.full(w.shape, 0.3, "float32") + 0.01 * np.arange(w.size).reshape(w.shape)
                           for w in model.get_weights()])
        optimizer = (keras.optimizers.Muon(0.01, weight_decay=0.5, adam_weight_decay=0.3) if case.startswith("muon")
                     else keras.optimizers.AdamW(0.01, weight_decay=0.5))
        if case.endswith("names"):
            optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
        elif case.endswith("list"):
            optimizer.exclude_from_weight_decay(var_list=[model.layers[0].kernel])
        model.compile(optimizer, "mse")
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        seen[case] = [np.asarray(w).tolist() for w in model.get_weights()]
    return seen
'''


def test_excluded_weights_train_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    for case in ours:
        for a, b in zip(ours[case], theirs[case]):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=case)
    # the exclusions change the weights they name, and only those (Muon: each by its kind's decay)
    for prefix in ("", "muon "):
        changed = [not np.allclose(a, b) for a, b in zip(ours[prefix + "names"], ours[prefix + "none"])]
        assert changed[1] and changed[2] and changed[3]  # a's bias, n's gamma and beta: no longer decayed
        assert not np.allclose(ours[prefix + "list"][0], ours[prefix + "none"][0])  # a's kernel


def _trained(jit, exclude=None, decay_after=None, optimizer_class=optimizers.AdamW):
    gpunn.utils.set_random_seed(3)
    model = gpunn.Sequential([gpunn.Input((6,), dtype="float64"), layers.Dense(5, activation="tanh"),
                              layers.Dense(2)])
    optimizer = optimizer_class(0.02, weight_decay=0.3)
    if exclude is not None:
        optimizer.exclude_from_weight_decay(var_names=exclude)
    model.compile(optimizer, "mse", jit_compile=jit)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((40, 6)), rng.standard_normal((40, 2))
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    if decay_after is not None:
        optimizer.weight_decay = decay_after  # a device value: the recorded step is kept
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return model.get_weights()


@pytest.mark.parametrize("optimizer_class", [optimizers.AdamW, optimizers.Muon], ids=["adamw", "muon"])
@pytest.mark.parametrize("decay_after", [None, 0.9])
def test_replayed_training_with_exclusions_equals_eager_bit_for_bit(numpy_backend, decay_after, optimizer_class):
    eager, replayed = (_trained(jit, ["bias"], decay_after, optimizer_class) for jit in (False, True))
    for a, b in zip(eager, replayed):
        np.testing.assert_array_equal(a, b)


def test_a_decay_of_zero_on_the_excluded_weights_only():
    """Excluding a name no weight has changes nothing; excluding the kernels leaves the biases' updates as they
    were and changes the kernels'."""
    plain, nothing, kernels = _trained(False), _trained(False, ["nothing"]), _trained(False, ["kernel"])
    for a, b in zip(plain, nothing):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(plain[0], kernels[0]) and not np.allclose(plain[2], kernels[2])


@pytest.mark.parametrize("optimizer_class", [optimizers.AdamW, optimizers.Muon], ids=["adamw", "muon"])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replayed"])
def test_exclusions_made_after_the_build_take_effect_from_the_next_step(numpy_backend, jit, optimizer_class):
    """Keras 3.15 takes a call after the build without a word (its check never fires) and changes nothing (its
    compiled step keeps the decisions it traced); gpunn applies it, as asked (a loaded model's optimizer is built
    at the load, so this is how a loaded model takes exclusions)."""
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
    trained = []
    for late in ("exclusions", "no decay", None):
        gpunn.utils.set_random_seed(0)
        model = gpunn.Sequential([gpunn.Input((3,), dtype="float64"), layers.Dense(1)])
        model.compile(optimizer_class(0.05, weight_decay=0.5), "mse", jit_compile=jit)
        model.fit(x, y, batch_size=4, verbose=0)
        if late == "exclusions":  # every weight excluded: as no decay at all from here
            model.optimizer.exclude_from_weight_decay(var_names=["kernel", "bias"])
        elif late == "no decay":
            model.optimizer.weight_decay = 0.0
            if optimizer_class is optimizers.Muon:  # (Muon decays AdamW's weights by their own factor)
                model.optimizer.adam_weight_decay = None
        model.fit(x, y, batch_size=4, verbose=0)
        trained.append(model.get_weights())
    for a, b in zip(trained[0], trained[1]):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(trained[0][0], trained[2][0])  # and not as the decayed run


def test_bad_exclusions_are_refused_by_name():
    with pytest.raises(ValueError, match="^var_names: expected a list of strings"):
        optimizers.AdamW(0.01).exclude_from_weight_decay(var_names="bias")
    with pytest.raises(ValueError, match="^var_list: expected the model's variables"):
        optimizers.AdamW(0.01).exclude_from_weight_decay(var_list=[np.ones(3)])
