"""Keras's lookups a script may call by hand: ``deserialize_keras_object(name, module_objects=...)`` (the older
path), ``initializers.deserialize`` of a name, and the penalties' factors given as None (their defaults).
Compared with Keras itself."""
from tests.helpers import run_script_both_ways

SCRIPT = r'''
import json, sys


def run(module, folder):
    found = module.utils.deserialize_keras_object("relu", module_objects=vars(module.activations))
    missing = module.utils.deserialize_keras_object("no_such_function", module_objects=vars(module.activations))
    return {
        "function": getattr(found, "__name__", str(found)),
        "missing": missing,
        "initializer": type(module.initializers.deserialize("he_normal")).__name__,
        "l1": round(float(module.regularizers.L1(None).get_config()["l1"]), 6),
        "l2": module.regularizers.L2(None).get_config(),
        "l1_l2": module.regularizers.L1L2(None, None).get_config(),
    }
'''


def test_lookups_by_name_and_default_factors_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours == theirs
    assert theirs["function"] == "relu" and theirs["initializer"] == "HeNormal"
