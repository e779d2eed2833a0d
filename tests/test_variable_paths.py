"""Keras's ``variable.path`` (``gpunn/layers/variable_paths.py``): the scopes the variable was made in, the layer's
name, the weight's; checked against Keras 3 on one script covering each way a layer is built."""
from __future__ import annotations

import json
import subprocess
import sys

from helpers import run_keras

_PATHS = """
import sys, json, numpy as np
if sys.argv[1] == "keras":
    import keras
else:
    import gpunn as keras
from_ = keras.layers
out = {}
inner = keras.Sequential([from_.Dense(3)], name="inner")
outer = keras.Sequential([keras.Input((4,)), inner, from_.Dense(2)], name="outer")
out["nested"] = [v.path for v in outer.variables]
s = keras.Sequential([from_.Dense(3, name="d1")], name="s2"); s.compile("sgd", "mse"); s.fit(np.ones((2, 4)), np.ones((2, 3)), verbose=0)
out["built_by_fit"] = [v.path for v in s.variables]
i = keras.Input((4,)); inner2 = keras.Sequential([keras.Input((4,)), from_.Dense(3, name="d2")], name="inner2")
f = keras.Model(i, from_.Dense(1, name="head")(inner2(i)))
out["functional"] = [v.path for v in f.variables]
class Block(from_.Layer):
    def __init__(self, **kw):
        super().__init__(**kw); self.d = from_.Dense(2, name="bd")
    def call(self, x): return self.d(x)
b = Block(name="blk"); b(np.ones((1, 3), "float32")); out["block_alone"] = [v.path for v in b.variables]
m = keras.Sequential([keras.Input((3,)), Block(name="blk2")], name="s3"); out["block_in_seq"] = [v.path for v in m.variables]
class Linear(from_.Layer):
    def __init__(self, **kw):
        super().__init__(**kw); self.w = self.add_weight(shape=(3, 2), name="w")
    def call(self, x): return x @ self.w
m2 = keras.Sequential([keras.Input((3,)), Linear(name="lin")], name="s4"); out["init_weights"] = [v.path for v in m2.variables]
class M(keras.Model):
    def __init__(self, **kw):
        super().__init__(**kw); self.d = from_.Dense(2, name="md")
    def call(self, x): return self.d(x)
mm = M(name="mm"); mm(np.ones((1, 3), "float32")); out["subclassed"] = [v.path for v in mm.variables]
d = from_.Dense(2, name="pre"); d.build((None, 3)); s5 = keras.Sequential([keras.Input((3,)), d], name="s5"); out["prebuilt"] = [v.path for v in s5.variables]
import os, tempfile
with tempfile.TemporaryDirectory() as folder:
    s.save(os.path.join(folder, "s2.keras"))
    out["loaded"] = [v.path for v in keras.models.load_model(os.path.join(folder, "s2.keras")).variables]
print(json.dumps(out))
"""


def test_variable_paths_are_keras_s_however_the_layer_was_built():
    ours = subprocess.run([sys.executable, "-c", _PATHS, "gpunn"], capture_output=True, text=True, check=True)
    ours = json.loads(ours.stdout.strip().splitlines()[-1])
    assert ours == run_keras(_PATHS.replace('sys.argv[1] == "keras"', "True"), None)
    assert ours["nested"][:2] == ["outer/inner/dense/kernel", "outer/inner/dense/bias"]
    assert ours["functional"][0] == "inner2/d2/kernel" and ours["prebuilt"] == ["pre/kernel", "pre/bias"]
    assert ours["built_by_fit"] == ["s2/d1/kernel", "s2/d1/bias"]
    assert ours["loaded"] == ["d1/kernel", "d1/bias"]  # built from its own config, before the model
