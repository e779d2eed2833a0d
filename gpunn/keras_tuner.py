"""KerasTuner searching over gpunn's models: ``from gpunn import keras_tuner as kt`` where a script had
``import keras_tuner as kt`` (``pip install 'gpunn[tuner]'``).

KerasTuner builds a model per trial with the script's function (or ``HyperModel``), trains it with ``fit``, reads
the objective from the History ``fit`` returns, saves the best epoch's weights with ``save_weights`` and loads
them into a model built from ``get_build_config()`` (Hyperband's later rounds, ``get_best_models``). Its tuners
take only Keras's own models and Histories (two isinstance checks); this module's tuners are KerasTuner's with
those checks taking gpunn's too. Everything else is KerasTuner's own, re-exported here: the oracles, the
hyperparameters, the trial folders, ``results_summary``.

Two things follow Keras's TensorFlow backend, as the TF tutorials show them: each trial starts from a cleared
session (``gpunn.backend.clear_session``: layers named anew, weights drawn anew), and a ``TensorBoard`` callback
writes each trial's logs to ``<log_dir>/<trial id>/execution<n>`` (without KerasTuner's HParams summaries, which
need TensorFlow).
"""
from __future__ import annotations

import gc
import sys
from types import ModuleType

from . import _compat

_kt = _compat.keras_tuner()
# KerasTuner's names (the tuners are replaced below), and the parts of it the tuners' methods below call, which
# importing it has loaded
globals().update({name: value for name, value in vars(_kt).items() if not name.startswith("_")})
_tuner_module, _tuner_utils = _kt.src.engine.tuner, _kt.src.engine.tuner_utils
_backend_config, _utils = _kt.src.backend.config, _kt.src.utils
__version__ = _kt.__version__


def _keras_results(results):
    """``fit``'s result as KerasTuner reads it: a gpunn History becomes a Keras History holding the same logs
    (KerasTuner takes each trial's best epoch from it); lists are converted element by element."""
    from .callbacks.history import History

    if isinstance(results, list):
        return [_keras_results(result) for result in results]
    if isinstance(results, History):
        converted = _compat.keras().callbacks.History()
        converted.history = {name: list(values) for name, values in results.history.items()}
        converted.epoch = list(results.epoch)
        return converted
    return results


def _fresh(optimizer):
    """A new optimizer with ``optimizer``'s configuration (gpunn's, or Keras's, which gpunn's compile takes)."""
    from . import optimizers
    from .optimizers.base import Optimizer

    if isinstance(optimizer, Optimizer):
        return optimizers.deserialize(optimizers.serialize(optimizer))
    keras = _compat.keras()
    return keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))


def _takes_keras_models(model) -> bool:
    keras = _compat.keras()
    return keras is not None and isinstance(model, keras.Model)


class _GpunnModels:
    """The parts of KerasTuner's ``Tuner`` that take gpunn's models (keras_tuner/src/engine/tuner.py, whose
    methods these follow line for line but for the checks); put before KerasTuner's class in the bases."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A script's tuner subclass with a run_trial of its own returns what its model.fit returned
        own = vars(cls).get("run_trial")
        if own is not None and not getattr(own, "_gpunn_results", False):
            def run_trial(self, trial, *args, **kwargs):
                return _keras_results(own(self, trial, *args, **kwargs))

            run_trial.__doc__, run_trial.__name__, run_trial._gpunn_results = own.__doc__, "run_trial", True
            cls.run_trial = run_trial

    def _try_build(self, hp):
        from . import backend
        from .models.sequential import Sequential

        _compat.keras().backend.clear_session()
        backend.clear_session()  # as KerasTuner clears Keras's: each trial's layers named anew, new weights
        gc.collect()
        model = self._build_hypermodel(hp)
        if not isinstance(model, Sequential) and not _takes_keras_models(model):
            raise _kt.errors.FatalTypeError(
                "Expected the model-building function, or HyperModel.build() to return a gpunn model (or a "
                f"Keras one). Received: {model} of type {type(model)}.")
        size = _tuner_module.maybe_compute_model_size(model)
        if self.max_model_size and size > self.max_model_size:
            raise _kt.errors.FailedTrialError(f"Oversized model: {size} parameters. Skip model.")
        return model

    def _override_compile_args(self, model):
        """The tuner's ``optimizer`` / ``loss`` / ``metrics`` in place of the model's own: KerasTuner compiles the
        model again with the metrics it reads from ``model.metrics``, which for a gpunn model before its first
        step holds the loss tracker alone, so the model's compile arguments are taken instead (as KerasTuner's
        recompile keeps them for Keras's models)."""
        from .models.sequential import Sequential

        if not isinstance(model, Sequential) or not (self.optimizer or self.loss or self.metrics):
            return super()._override_compile_args(model)
        loss, loss_weights, metrics, weighted_metrics = getattr(model, "_compile_arguments", (None,) * 4)
        optimizer = model.optimizer if model.compiled else "rmsprop"
        if self.optimizer:  # a new one per trial, as KerasTuner's
            optimizer = self.optimizer if isinstance(self.optimizer, str) else _fresh(self.optimizer)
        model.compile(optimizer=optimizer, loss=self.loss or loss, loss_weights=loss_weights,
                      metrics=self.metrics or metrics, weighted_metrics=weighted_metrics)

    def _build_and_fit_model(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        model = self._try_build(hp)
        results = _keras_results(self.hypermodel.fit(hp, model, *args, **kwargs))
        if _backend_config.multi_backend():  # (Keras 3: the build config beside the weights)
            _utils.save_json(self._get_build_config_fname(trial.trial_id), model.get_build_config())
        _tuner_utils.validate_trial_results(results, self.oracle.objective, "HyperModel.fit()")
        return results

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        from .callbacks.tensorboard import TensorBoard

        ours = [callback for callback in callbacks if isinstance(callback, TensorBoard)]
        for callback in ours:
            callback.log_dir = self._get_tensorboard_dir(callback.log_dir, trial.trial_id, execution)
        if not ours:  # (KerasTuner's, for Keras's own TensorBoard, would move ours a second time)
            super()._configure_tensorboard_dir(callbacks, trial, execution)


class Tuner(_GpunnModels, _kt.Tuner):
    __doc__ = _kt.Tuner.__doc__


class RandomSearch(_GpunnModels, _kt.RandomSearch):
    __doc__ = _kt.RandomSearch.__doc__


class Hyperband(_GpunnModels, _kt.Hyperband):
    __doc__ = _kt.Hyperband.__doc__


class BayesianOptimization(_GpunnModels, _kt.BayesianOptimization):
    __doc__ = _kt.BayesianOptimization.__doc__


class GridSearch(_GpunnModels, _kt.GridSearch):
    __doc__ = _kt.GridSearch.__doc__


def _tuners_module() -> ModuleType:
    """``kt.tuners`` with the tuners above in place of KerasTuner's."""
    module = ModuleType(__name__ + ".tuners", _kt.tuners.__doc__)
    module.__dict__.update({name: value for name, value in vars(_kt.tuners).items() if not name.startswith("_")})
    module.__dict__.update(RandomSearch=RandomSearch, Hyperband=Hyperband,
                           BayesianOptimization=BayesianOptimization, GridSearch=GridSearch)
    return module


tuners = _tuners_module()
sys.modules[tuners.__name__] = tuners  # (``from gpunn.keras_tuner.tuners import Hyperband``)
