"""Random functional graphs of several outputs, checked three ways.

Each graph (seeded) has one or two inputs and two or three outputs, built from Dense layers (smooth hidden
activations; linear, tanh, sigmoid and softmax heads), Concatenate, Add and LayerNormalization. Some outputs are
also read by other layers (so their activation stays in the layer), some outputs are hidden layers, the outputs
come as a list in a shuffled order or as a dict whose keys differ from the layers' names. Each output gets a
random loss (mse, huber, mae; binary cross-entropy on sigmoid heads; sparse or dense categorical cross-entropy on
softmax heads), some a loss weight, some batches sample weights.

- float64: the gradient of a train_on_batch against central differences of the total loss computed in NumPy from
  ``predict`` (sum over outputs of weight * mean over samples of sample weight * loss), the step's logs against
  the same NumPy losses, and which output layers hand logits to their loss;
- a replayed (jit_compile=True) training equals the eager one, bit for bit;
- against Keras 3 (one subprocess for several graphs): layers, output names and config, History, evaluate and
  predict on the same weights and batches.
"""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from gpunn.trainer.plan import make_plan
from helpers import assert_gradients_close, assert_same_training, numerical_gradient, numpy_backend, run_keras  # noqa: F401

HIDDEN_ACTIVATIONS = ["tanh", "sigmoid", "softplus", "linear", "silu"]


def make_spec(seed: int) -> dict:
    """A random graph, as JSON-able data (the Keras side builds it from the same data)."""
    rng = np.random.default_rng(seed)
    spec = {"seed": seed, "inputs": [], "nodes": [], "outputs": []}
    width: dict = {}
    for k in range(int(rng.integers(1, 3))):
        spec["inputs"].append({"name": f"in{k}", "dim": int(rng.integers(2, 5))})
        width[f"in{k}"] = spec["inputs"][-1]["dim"]
    counter = [0]

    def add(kind, src, **kw):
        name = f"{kind}{counter[0]}"
        counter[0] += 1
        spec["nodes"].append({"name": name, "kind": kind, "src": list(src), **kw})
        width[name] = kw["units"] if kind == "dense" else sum(width[s] for s in src) if kind == "concat" \
            else width[src[0]]
        return name

    def dense(src, units=None, act=None):
        return add("dense", [src], units=int(units or rng.integers(3, 6)),
                   act=act or str(rng.choice(HIDDEN_ACTIVATIONS)))

    pool = [dense(entry["name"]) for entry in spec["inputs"]]
    if len(pool) == 2:
        pool.append(add("concat", pool[:2]))
    for _ in range(int(rng.integers(1, 3))):
        choice = rng.integers(0, 4)
        a = pool[-1 - int(rng.integers(min(2, len(pool))))]
        if choice == 0:
            pool.append(dense(a))
        elif choice == 1 and len(pool) > 1:
            b = pool[int(rng.integers(len(pool)))]
            if b != a:
                pool.append(add("concat", [a, b]))
        elif choice == 2:
            b = dense(pool[int(rng.integers(len(pool)))], units=width[a])
            pool.append(add("add", [a, b]))
        else:
            pool.append(add("ln", [a]))
    n_outputs = int(rng.integers(2, 4))
    feed = None  # a layer reading the previous output, which the next head reads
    used: set = set()
    for k in range(n_outputs):
        kind = str(rng.choice(["reg", "sig", "soft", "hidden"], p=[0.35, 0.25, 0.3, 0.1]))
        hidden = [p for p in pool if p not in used]
        if kind == "hidden" and hidden and feed is None:
            node = hidden[int(rng.integers(len(hidden)))]  # an intermediate layer as an output
        else:
            kind = "reg" if kind == "hidden" else kind
            src = feed if feed is not None else pool[-1 - int(rng.integers(min(3, len(pool))))]
            if kind == "reg":
                node = dense(src, units=int(rng.integers(1, 4)), act=str(rng.choice(["linear", "tanh"])))
            elif kind == "sig":
                node = dense(src, units=int(rng.integers(1, 4)), act="sigmoid")
            else:
                node = dense(src, units=int(rng.integers(2, 5)), act="softmax")
        feed = None
        used.add(node)
        if k < n_outputs - 1 and rng.random() < 0.5:  # the output is also read by another layer
            feed = add("concat", [node, pool[int(rng.integers(len(pool)))]]) if rng.random() < 0.5 else dense(node)
            pool.append(feed)
        if kind == "soft":
            loss = str(rng.choice(["sparse_categorical_crossentropy", "categorical_crossentropy"]))
            metric = "accuracy"
        elif kind == "sig":
            loss, metric = "binary_crossentropy", "binary_accuracy"
        else:
            loss, metric = str(rng.choice(["mse", "huber", "mae"], p=[0.5, 0.35, 0.15])), "mae"
        spec["outputs"].append({"node": node, "kind": kind, "loss": loss, "width": width[node],
                                "weight": float(np.round(rng.uniform(0.2, 2.0), 3)) if rng.random() < 0.6 else None,
                                "metric": metric if rng.random() < 0.6 else None})
    spec["outputs"] = [spec["outputs"][i] for i in rng.permutation(n_outputs)]
    spec["as_dict"] = bool(rng.random() < 0.35)
    if spec["as_dict"]:  # keys unlike the layers' names, sorting otherwise than the outputs were made
        for output, key in zip(spec["outputs"], rng.permutation(["alpha", "beta", "gamma"])):
            output["key"] = f"{key}_{output['node']}"
    spec["loss_as"] = str(rng.choice(["list", "dict"]))
    spec["weighted"] = bool(rng.random() < 0.5)
    # only what an output depends on (Keras leaves the rest out of the model too)
    needed, stack = set(), [output["node"] for output in spec["outputs"]]
    by_name = {node["name"]: node for node in spec["nodes"]}
    while stack:
        name = stack.pop()
        if name not in needed and name in by_name:
            needed.add(name)
            stack.extend(by_name[name]["src"])
    spec["nodes"] = [node for node in spec["nodes"] if node["name"] in needed]
    spec["inputs"] = [entry for entry in spec["inputs"] if any(entry["name"] in n["src"] for n in spec["nodes"])]
    return spec


BUILD = '''
def build(keras, layers, spec, dtype):
    tensors = {i["name"]: keras.Input(shape=(i["dim"],), name=i["name"], dtype=dtype) for i in spec["inputs"]}
    for node in spec["nodes"]:
        src = [tensors[s] for s in node["src"]]
        if node["kind"] == "dense":
            activation = None if node["act"] == "linear" else node["act"]
            made = layers.Dense(node["units"], activation=activation, name=node["name"], dtype=dtype)(src[0])
        elif node["kind"] == "concat":
            made = layers.Concatenate(name=node["name"], dtype=dtype)(src)
        elif node["kind"] == "add":
            made = layers.Add(name=node["name"], dtype=dtype)(src)
        else:
            made = layers.LayerNormalization(name=node["name"], dtype=dtype)(src[0])
        tensors[node["name"]] = made
    inputs = [tensors[i["name"]] for i in spec["inputs"]]
    if spec["as_dict"]:
        outputs = {o["key"]: tensors[o["node"]] for o in spec["outputs"]}
    else:
        outputs = [tensors[o["node"]] for o in spec["outputs"]]
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name="random_graph")


def output_ids(spec):
    """How compile, targets and predict name each output of ``spec["outputs"]``: its dict key, or its layer."""
    return [o.get("key", o["node"]) for o in spec["outputs"]]


def model_order(spec):
    """The positions in ``spec["outputs"]`` in the model's order of its outputs (a dict: by sorted keys)."""
    ids = output_ids(spec)
    return sorted(range(len(ids)), key=lambda k: ids[k]) if spec["as_dict"] else list(range(len(ids)))


def compile_args(spec, with_metrics):
    ids, order = output_ids(spec), model_order(spec)
    losses = [o["loss"] for o in spec["outputs"]]
    weights = [1.0 if o["weight"] is None else o["weight"] for o in spec["outputs"]]
    weighted = any(o["weight"] is not None for o in spec["outputs"])
    if spec["loss_as"] == "dict":
        kwargs = {"loss": {ids[k]: losses[k] for k in order},
                  "loss_weights": {ids[k]: weights[k] for k in order} if weighted else None}
    else:
        kwargs = {"loss": [losses[k] for k in order], "loss_weights": [weights[k] for k in order] if weighted else None}
    if with_metrics:
        kwargs["metrics"] = {ids[k]: [spec["outputs"][k]["metric"]] if spec["outputs"][k]["metric"] else []
                             for k in order}
    return kwargs


def targets(spec, ys, as_keys):
    """The targets as a dict by output id, or as a list in the model's order of the outputs."""
    ids = output_ids(spec)
    if as_keys:
        return {ids[k]: ys[k] for k in range(len(ids))}
    return [ys[k] for k in model_order(spec)]


def first_rows(value, rows=10):
    """The first rows of an array, or of each array of a list or dict."""
    if isinstance(value, dict):
        return {k: v[:rows] for k, v in value.items()}
    return [v[:rows] for v in value] if isinstance(value, list) else value[:rows]
'''

_NAMESPACE: dict = {}
exec(BUILD, _NAMESPACE)
build, output_ids, model_order, compile_args, targets, first_rows = (
    _NAMESPACE[name] for name in ("build", "output_ids", "model_order", "compile_args", "targets", "first_rows"))


def make_data(spec, rows, seed, dtype="float64"):
    """Inputs, targets per ``spec["outputs"]`` (class ids, one-hot or soft labels, probabilities or 0/1, values),
    and sample weights or None."""
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((rows, entry["dim"])).astype(dtype) for entry in spec["inputs"]]
    ys = []
    for output in spec["outputs"]:
        width = output["width"]
        if output["loss"] == "sparse_categorical_crossentropy":
            ys.append(rng.integers(0, width, rows))
        elif output["loss"] == "categorical_crossentropy":
            ys.append(rng.dirichlet(np.ones(width), rows).astype(dtype) if rng.random() < 0.5
                      else np.eye(width, dtype=dtype)[rng.integers(0, width, rows)])
        elif output["loss"] == "binary_crossentropy":
            ys.append(rng.uniform(0, 1, (rows, width)).astype(dtype) if rng.random() < 0.5
                      else rng.integers(0, 2, (rows, width)).astype(dtype))
        else:
            ys.append(rng.normal(0, 1.5, (rows, width)).astype(dtype))
    weights = rng.uniform(0.2, 2.0, rows).astype(dtype) if spec["weighted"] else None
    return (xs if len(xs) > 1 else xs[0]), ys, weights


_EPSILON = 1e-7  # Keras clips probabilities so for a cross-entropy that does not take logits


def numpy_loss(name, p, y):
    """Each sample's loss as Keras computes it from the output ``p`` (probabilities for the cross-entropies)."""
    if name == "mse":
        return ((p - y) ** 2).mean(axis=-1)
    if name == "mae":
        return np.abs(p - y).mean(axis=-1)
    if name == "huber":
        error = np.abs(p - y)
        return np.where(error <= 1.0, 0.5 * error ** 2, error - 0.5).mean(axis=-1)
    if name == "binary_crossentropy":
        p = np.clip(p, _EPSILON, 1 - _EPSILON)
        return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=-1)
    p = np.clip(p / p.sum(axis=-1, keepdims=True), _EPSILON, 1 - _EPSILON)
    if name == "categorical_crossentropy":
        return -(y * np.log(p)).sum(axis=-1)
    assert name == "sparse_categorical_crossentropy"
    return -np.log(p[np.arange(len(y)), y])


def _predictions(model, spec, x) -> list:
    """predict's outputs, per ``spec["outputs"]``."""
    predicted = model.predict(x, verbose=0)
    if spec["as_dict"]:
        assert isinstance(predicted, dict) and sorted(predicted) == sorted(output_ids(spec))
        return [predicted[key] for key in output_ids(spec)]
    assert isinstance(predicted, list) and len(predicted) == len(spec["outputs"])
    return predicted


def _numpy_parts(spec, predictions, ys, weights) -> list:
    """Per output (of ``spec["outputs"]``), its loss: the mean over samples of sample weight * loss."""
    parts = []
    for output, p, y in zip(spec["outputs"], predictions, ys):
        per_sample = numpy_loss(output["loss"], p, y)
        parts.append(float((per_sample if weights is None else weights * per_sample).mean()))
    return parts


SEEDS = range(30)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_graph_gradient_and_logs_match_numpy(seed):
    spec = make_spec(seed)
    gpunn.utils.set_random_seed(seed)
    model = build(gpunn, layers, spec, "float64")
    model.compile(optimizer=gpunn.optimizers.SGD(0.05), **compile_args(spec, False))
    x, ys, sample_weight = make_data(spec, 6, seed + 100)
    loss_weights = [1.0 if output["weight"] is None else output["weight"] for output in spec["outputs"]]
    ids = output_ids(spec)

    # Which output layers hand their logits to the loss: a sigmoid / softmax head that nothing else reads
    read = {source for node in spec["nodes"] for source in node["src"]}
    plan = make_plan(model, model._sparse_labels(None))
    by_node = {output["node"]: output for output in spec["outputs"]}
    assert [output.name for output in plan.outputs] == [ids[k] for k in model_order(spec)]
    for output in plan.outputs:
        layer_name = plan.layers[output.index].name
        expected = by_node[layer_name]["kind"] in ("sig", "soft") and layer_name not in read
        assert output.raw == expected, (layer_name, output.raw)

    def objective(_):
        parts = _numpy_parts(spec, _predictions(model, spec, x), ys, sample_weight)
        return sum(weight * part for weight, part in zip(loss_weights, parts))

    numeric = numerical_gradient(objective, model.params)
    parts = _numpy_parts(spec, _predictions(model, spec, x), ys, sample_weight)
    total = sum(weight * part for weight, part in zip(loss_weights, parts))
    # targets by key (or layer name) or as a list in the model's order
    logs = model.train_on_batch(x, targets(spec, ys, as_keys=seed % 3 != 0), sample_weight=sample_weight,
                                return_dict=True)
    assert_gradients_close(np.array(model.grads), numeric, rtol=1e-6, what=f"seed {seed}: d total loss / d params")
    assert list(logs) == sorted(["loss"] + [f"{ids[k]}_loss" for k in model_order(spec)])
    assert logs["loss"] == pytest.approx(total, rel=1e-10, abs=1e-12)
    for key, part in zip(ids, parts):
        assert logs[f"{key}_loss"] == pytest.approx(part, rel=1e-10, abs=1e-12), key


@pytest.mark.parametrize("seed", [1, 7, 17, 24])
def test_random_graph_replays_bit_for_bit_as_eager(seed):
    spec = make_spec(seed)
    x, ys, sample_weight = make_data(spec, 45, seed + 7, dtype="float32")

    def run(jit):
        gpunn.utils.set_random_seed(seed)
        model = build(gpunn, layers, spec, "float32")
        model.compile(optimizer="adam", jit_compile=jit, steps_per_execution=2, **compile_args(spec, True))
        history = model.fit(x, targets(spec, ys, as_keys=True), sample_weight=sample_weight, batch_size=8,
                            epochs=2, verbose=0, validation_split=0.2)
        recordings = sum(len(state.recordings) for state in model.train_function._states.values())
        assert (recordings > 0) == jit
        return model, history.history

    assert_same_training(run(False), run(True))


KERAS_SIDE = BUILD + r'''
import json, sys
import numpy as np
import jax
jax.config.update("jax_disable_most_optimizations", True)  # compiles the small steps in half the time
import keras
tasks = json.loads(sys.stdin.read())
results = []
for task in tasks:
    spec = task["spec"]
    model = build(keras, keras.layers, spec, "float32")
    out = {"layers": [layer.name for layer in model.layers], "output_names": list(model.output_names),
           "output_layers": model.get_config()["output_layers"]}
    model.set_weights([np.array(v, dtype="float32") for v in task["weights"]])
    optimizer = keras.optimizers.SGD(0.05) if task["optimizer"] == "sgd" else keras.optimizers.Adam(0.01)
    model.compile(optimizer=optimizer, **compile_args(spec, True))
    x = [np.array(v, dtype="float32") for v in task["x"]]
    x = x if len(x) > 1 else x[0]
    ys = [np.array(y, dtype="int64" if o["loss"] == "sparse_categorical_crossentropy" else "float32")
          for y, o in zip(task["ys"], spec["outputs"])]
    sample_weight = None if task["w"] is None else np.array(task["w"], dtype="float32")
    y = targets(spec, ys, as_keys=spec["as_dict"])  # Keras takes a dict of targets for a dict of outputs
    history = model.fit(x, y, sample_weight=sample_weight, batch_size=7, epochs=2, shuffle=False, verbose=0,
                        validation_data=(first_rows(x), first_rows(y)))
    out["history"] = {k: [float(v) for v in values] for k, values in history.history.items()}
    out["evaluate"] = {k: float(v) for k, v in model.evaluate(x, y, batch_size=7, verbose=0,
                                                              return_dict=True).items()}
    predicted = model.predict(x, batch_size=28, verbose=0)
    out["predict"] = ({k: v.tolist() for k, v in predicted.items()} if isinstance(predicted, dict)
                      else [v.tolist() for v in predicted])
    out["trained"] = [v.tolist() for v in model.get_weights()]
    results.append(out)
print(json.dumps(results))
'''

KERAS_SEEDS = [3, 10, 20, 24]


def test_random_graphs_train_evaluate_and_predict_as_in_keras():
    tasks, ours = [], []
    for seed in KERAS_SEEDS:
        spec = make_spec(seed)
        x, ys, sample_weight = make_data(spec, 28, seed + 50, dtype="float32")
        gpunn.utils.set_random_seed(seed)
        model = build(gpunn, layers, spec, "float32")
        optimizer = "sgd" if seed % 2 else "adam"
        tasks.append({"spec": spec, "weights": [v.tolist() for v in model.get_weights()], "optimizer": optimizer,
                      "x": [a.tolist() for a in (x if isinstance(x, list) else [x])], "ys": [y.tolist() for y in ys],
                      "w": None if sample_weight is None else sample_weight.tolist()})
        model.compile(optimizer=gpunn.optimizers.SGD(0.05) if optimizer == "sgd" else gpunn.optimizers.Adam(0.01),
                      **compile_args(spec, True))
        y = targets(spec, ys, as_keys=spec["as_dict"])
        history = model.fit(x, y, sample_weight=sample_weight, batch_size=7, epochs=2, shuffle=False, verbose=0,
                            validation_data=(first_rows(x), first_rows(y)))
        ours.append({"model": model, "history": history.history,
                     "evaluate": model.evaluate(x, y, batch_size=7, verbose=0, return_dict=True),
                     "predict": model.predict(x, batch_size=28, verbose=0)})
    theirs = run_keras(KERAS_SIDE, tasks)
    for seed, mine, keras_side in zip(KERAS_SEEDS, ours, theirs):
        model, what = mine["model"], f"seed {seed}"
        assert [layer.name for layer in model.layers] == keras_side["layers"], what
        assert model.output_names == keras_side["output_names"], what
        assert model.get_config()["output_layers"] == keras_side["output_layers"], what
        assert set(mine["history"]) == set(keras_side["history"]), what
        for key, values in keras_side["history"].items():
            np.testing.assert_allclose(mine["history"][key], values, rtol=1e-4, atol=1e-5, err_msg=f"{what} {key}")
        assert set(mine["evaluate"]) == set(keras_side["evaluate"]), what
        for key, value in keras_side["evaluate"].items():
            assert mine["evaluate"][key] == pytest.approx(value, rel=1e-4, abs=1e-5), f"{what} {key}"
        predicted, expected = mine["predict"], keras_side["predict"]
        if isinstance(expected, dict):
            assert isinstance(predicted, dict) and sorted(predicted) == sorted(expected), what
            predicted, expected = [predicted[k] for k in sorted(expected)], [expected[k] for k in sorted(expected)]
        assert isinstance(predicted, list) and len(predicted) == len(expected), what
        for got, want in zip(predicted, expected):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=what)
        for got, want in zip(model.get_weights(), keras_side["trained"]):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=what)


# ---- Edge cases found while reviewing several outputs (gpunn bugs: expected to fail until fixed) -----------------

def _two_heads(outputs_as="list"):
    gpunn.utils.set_random_seed(0)
    inputs = gpunn.Input(shape=(4,), name="x")
    hidden = layers.Dense(5, activation="tanh", name="h")(inputs)
    a, b = layers.Dense(2, name="lay_a")(hidden), layers.Dense(3, name="lay_b")(hidden)
    return gpunn.Model(inputs, {"ka": a, "kb": b} if outputs_as == "dict" else [a, b])


def _small_data(rows=12):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((rows, 4)).astype("float32"), rng.standard_normal((rows, 2)).astype("float32"),
            rng.standard_normal((rows, 3)).astype("float32"))


def test_a_dict_of_one_output_trains_as_a_single_output_as_in_keras():
    x, y, _ = _small_data()
    inputs = gpunn.Input(shape=(4,))
    model = gpunn.Model(inputs, {"only": layers.Dense(2, name="lay")(inputs)})
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    assert sorted(model.predict(x, verbose=0)) == ["only"]  # predict keeps the dict, as Keras's
    logs = model.evaluate(x, {"only": y}, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "mae"]  # Keras 3.15: {'loss': ..., 'mae': ...}
    assert model.evaluate(x, y, verbose=0, return_dict=True) == logs  # Keras takes the array alone


@pytest.mark.parametrize("extension", ["keras", "h5", "safetensors"])
def test_one_loss_for_every_output_keeps_per_output_metrics_in_files(tmp_path, extension):
    x, y1, y2 = _small_data()
    model = _two_heads()
    model.compile(optimizer="sgd", loss="mse", metrics={"lay_a": ["mae"]})
    logs = model.evaluate(x, [y1, y2], verbose=0, return_dict=True)
    model.save(tmp_path / f"m.{extension}")
    loaded = gpunn.models.load_model(tmp_path / f"m.{extension}")
    assert loaded.evaluate(x, [y1, y2], verbose=0, return_dict=True) == logs  # not lay_b_mae as well


@pytest.mark.parametrize("outputs_as", ["list", "dict"])
def test_predict_over_a_generator_gives_every_output(outputs_as):
    x, _, _ = _small_data()
    model = _two_heads(outputs_as)

    class Batches:
        def __iter__(self):
            return iter([x[:5], x[5:10], x[10:]])

    expected = model.predict(x, verbose=0)
    got = model.predict(Batches(), verbose=0)
    if outputs_as == "dict":
        expected, got = [expected[k] for k in sorted(expected)], [got[k] for k in sorted(got)]
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_dict_keys_that_name_other_outputs_layers_follow_the_keys_as_in_keras():
    x, _, _ = _small_data()
    rng = np.random.default_rng(1)
    y_value, y_class = rng.standard_normal((12, 1)).astype("float32"), rng.integers(0, 3, 12)
    inputs = gpunn.Input(shape=(4,))
    hidden = layers.Dense(5, activation="tanh", name="h")(inputs)
    value = layers.Dense(1, name="b")(hidden)  # layer "b" is the output keyed "a"
    classes = layers.Dense(3, activation="softmax", name="a")(hidden)  # and layer "a" the output keyed "b"
    model = gpunn.Model(inputs, {"a": value, "b": classes})
    model.compile(optimizer="sgd", loss={"a": "mse", "b": "sparse_categorical_crossentropy"})
    logs = model.evaluate(x, {"a": y_value, "b": y_class}, verbose=0, return_dict=True)
    predicted = model.predict(x, verbose=0)
    assert logs["a_loss"] == pytest.approx(float(((predicted["a"] - y_value) ** 2).mean()), rel=1e-5)
    assert logs["b_loss"] == pytest.approx(float(-np.log(predicted["b"][np.arange(12), y_class]).mean()), rel=1e-5)
