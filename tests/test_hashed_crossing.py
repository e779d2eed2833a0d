"""HashedCrossing: TensorFlow's ``tf.sparse.cross_hashed`` bins of crossed integers and strings (which Keras's layer
runs), on its own and in a model of integer inputs.

TensorFlow is not installed beside the tests: the full 64-bit crosses below were computed with TensorFlow 2.21
(``tf.sparse.to_dense(tf.sparse.cross_hashed([a, b], 2**62))``), and Keras's documented examples are Keras's
docstring's. Checked live against Keras where GPUNN_KERAS_TF_PYTHON names an interpreter with Keras and TensorFlow.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import run_keras_with_tensorflow_script  # noqa: E402

import gpunn  # noqa: E402
from gpunn import layers  # noqa: E402
from gpunn.layers.hashed_crossing import cross_bins  # noqa: E402

FEATURE_1 = np.array(["A", "B", "A", "B", "A"])
FEATURE_2 = np.array([101, 101, 101, 102, 102])


def test_kerass_documented_examples():
    np.testing.assert_array_equal(layers.HashedCrossing(num_bins=5)((FEATURE_1, FEATURE_2)), [1, 4, 1, 1, 3])
    np.testing.assert_array_equal(layers.HashedCrossing(num_bins=5, output_mode="one_hot")((FEATURE_1, FEATURE_2)),
                                  np.eye(5)[[1, 4, 1, 1, 3]])


def test_the_whole_crosses_are_tensorflows():
    """Strings by their FarmHash64, integers by their bits, in the order given, from TensorFlow's key."""
    wide = 2 ** 62
    assert cross_bins([FEATURE_1, FEATURE_2], wide).tolist() == [
        1126068114334019083, 3517223211217709850, 1126068114334019083, 3262559069118245864, 4231076453057403523]
    assert cross_bins([FEATURE_1, FEATURE_1], wide).tolist() == [
        2040605523252077516, 2162487549241257880, 2040605523252077516, 2162487549241257880, 2040605523252077516]
    assert cross_bins([FEATURE_2, FEATURE_2, FEATURE_1], wide).tolist() == [
        4170018441306171241, 1480839715011622494, 4170018441306171241, 711007881329642972, 2032523320582872057]


def test_shapes_as_kerass():
    column = (FEATURE_1.reshape(-1, 1), FEATURE_2.reshape(-1, 1))
    assert layers.HashedCrossing(5)(column).shape == (5, 1)
    assert layers.HashedCrossing(5, output_mode="one_hot")(column).shape == (5, 5)
    assert layers.HashedCrossing(5)((FEATURE_1, FEATURE_2)).shape == (5,)
    assert layers.HashedCrossing(5)((np.array("A"), np.array(101))).shape == ()


@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_model_crosses_its_integer_inputs_as_the_layer_on_its_own(jit_compile, tmp_path):
    rng = np.random.default_rng(3)
    x1, x2 = rng.integers(-5000, 5000, (64, 1)), rng.integers(0, 30, (64, 1))
    a, b = gpunn.Input((1,), dtype="int64"), gpunn.Input((1,), dtype="int64")
    crossed = layers.HashedCrossing(9, output_mode="one_hot")([a, b])
    model = gpunn.Model([a, b], layers.Dense(1)(crossed))
    model.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)
    expected = layers.HashedCrossing(9, output_mode="one_hot")((x1, x2))
    probe = gpunn.Model([a, b], crossed)
    np.testing.assert_array_equal(probe.predict([x1, x2], verbose=0), expected)
    model.fit([x1, x2], rng.standard_normal(64), epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = gpunn.models.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(loaded.predict([x1, x2], verbose=0), model.predict([x1, x2], verbose=0))
    crossing = loaded.layers[-2]
    assert (type(crossing).__name__, crossing.num_bins, crossing.output_mode) == ("HashedCrossing", 9, "one_hot")


def test_what_it_cannot_take_is_refused_by_name():
    text, number = gpunn.Input((1,), dtype="string", name="text"), gpunn.Input((1,), dtype="int64")
    with pytest.raises(TypeError, match=r"input 'text' holds strings, which gpunn crosses on their own or inside a "
                                        r"tf.data pipeline, not inside a model"):
        layers.HashedCrossing(3)([text, number])
    with pytest.raises(ValueError, match=r"at least two inputs"):
        layers.HashedCrossing(3)((FEATURE_1,))
    with pytest.raises(ValueError, match=r"inputs should have shape \(\), \(batch_size,\) or \(batch_size, 1\)"):
        layers.HashedCrossing(3)((FEATURE_1.reshape(-1, 1), FEATURE_2))
    with pytest.raises(ValueError, match=r"inputs\[1\]: HashedCrossing crosses integers or strings, got the "
                                         r"non-integer 0.5"):
        layers.HashedCrossing(3)((FEATURE_1, np.array([0.5, 1, 2, 3, 4])))
    with pytest.raises(ValueError, match=r"output_mode: HashedCrossing takes one of \('int', 'one_hot'\)"):
        layers.HashedCrossing(3, output_mode="count")
    with pytest.raises(ValueError, match=r"num_bins: expected an integer >= 1"):
        layers.HashedCrossing(0)


KERAS_SIDE = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
out = {}
for name, (mode, bins, columns) in task.items():
    values = [np.array(c, dtype="int64" if isinstance(c[0], int) else str) for c in columns]
    out[name] = np.asarray(keras.layers.HashedCrossing(bins, output_mode=mode)(tuple(values))).tolist()
print(json.dumps(out))
'''


def test_crosses_equal_kerass_run_live():
    rng = np.random.default_rng(8)
    words = rng.choice(["a", "bb", "x" * 70, "é"], 40).tolist()
    numbers = rng.integers(-2 ** 40, 2 ** 40, 40).tolist()
    small = rng.integers(0, 9, 40).tolist()
    task = {"strings": ("int", 17, [words, small]), "integers": ("one_hot", 5, [numbers, small]),
            "three": ("int", 1000, [small, words, numbers])}
    theirs = run_keras_with_tensorflow_script(KERAS_SIDE, task, backend="tensorflow")
    for name, (mode, bins, columns) in task.items():
        values = tuple(np.array(c, dtype="int64" if isinstance(c[0], int) else str) for c in columns)
        np.testing.assert_array_equal(layers.HashedCrossing(bins, output_mode=mode)(values), theirs[name],
                                      err_msg=name)
