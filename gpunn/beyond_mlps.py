"""Keras 3 names gpunn does not have say what they are for, and that gpunn leaves them out.

A script copied from a Keras tutorial stops at the first name gpunn lacks; "module 'gpunn.layers' has no attribute
'Conv2D'" reads like a bug or a typo. gpunn trains multilayer perceptrons, so the names it leaves out on purpose
(convolutions, recurrent and attention layers, their ops, model parallelism...) say so, by kind. A public
namespace's ``__getattr__`` calls ``stand_in``: a name of a layer, op or function gpunn leaves out is a stand-in
that raises ``LeftOutError`` with that message when it is made or called, so that ``from gpunn.layers import Dense,
Conv2D`` (a notebook importing more than it uses) imports, and a script that uses ``Conv2D`` stops there saying
why; a top-level name (``keras.applications``) raises the AttributeError with the message; any other name gets
Python's own message."""
from __future__ import annotations

import sys

_CONVOLUTION = ("convolution and pooling layers (image and sequence models); an image reaches an MLP flattened "
                "(layers.Flatten, or x.reshape(len(x), -1))")
_RECURRENT = "recurrent layers (sequence models); a sequence of fixed length reaches an MLP flattened"
_ATTENTION = "attention layers (transformers)"
_OTHER_FRAMEWORKS = "layers wrapping another framework's modules or TensorFlow SavedModels"
_AUGMENTATION = "this image augmentation (it mixes or warps images for convolutional models)"
_AUDIO = "audio feature layers"
_QUANTIZATION = "quantization (int8/int4/float8 weights for inference)"

_CONVOLUTION_LAYERS = [
    f"{kind}{d}D" for d in (1, 2, 3) for kind in (
        "Conv", "Convolution", "AveragePooling", "AvgPool", "MaxPooling", "MaxPool", "AdaptiveAveragePooling",
        "AdaptiveMaxPooling", "Cropping", "UpSampling", "ZeroPadding")] + [
    f"{kind}{d}DTranspose" for d in (1, 2, 3) for kind in ("Conv", "Convolution")] + [
    "SeparableConv1D", "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D", "DepthwiseConv1D",
    "DepthwiseConv2D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalAvgPool2D", "GlobalAvgPool3D",
    "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalMaxPool2D", "GlobalMaxPool3D", "SpatialDropout2D",
    "SpatialDropout3D"]
_RECURRENT_LAYERS = ["RNN", "SimpleRNN", "SimpleRNNCell", "GRU", "GRUCell", "LSTM", "LSTMCell", "ConvLSTM1D",
                     "ConvLSTM2D", "ConvLSTM3D", "Bidirectional", "StackedRNNCells"]

# namespace (after "gpunn.") -> name -> what it is, as "does not provide ..."
_LEFT_OUT: dict[str, dict[str, str]] = {
    "layers": {
        **dict.fromkeys(_CONVOLUTION_LAYERS, _CONVOLUTION),
        **dict.fromkeys(_RECURRENT_LAYERS, _RECURRENT),
        **dict.fromkeys(("Attention", "AdditiveAttention", "MultiHeadAttention", "GroupQueryAttention"), _ATTENTION),
        **dict.fromkeys(("FlaxLayer", "JaxLayer", "TorchModuleWrapper", "TFSMLayer"), _OTHER_FRAMEWORKS),
        **dict.fromkeys(("AugMix", "CutMix", "MixUp", "RandAugment", "RandomElasticTransform", "RandomPerspective",
                         "ContrastLimitedAdaptiveHistogramEqualization", "MaxNumBoundingBoxes"), _AUGMENTATION),
        **dict.fromkeys(("MelSpectrogram", "STFTSpectrogram"), _AUDIO),
        "SpectralNormalization": "SpectralNormalization (a wrapper normalizing a layer's kernel, used in GANs)",
        "ReversibleEmbedding": "ReversibleEmbedding (an embedding shared with a language model's output)",
        "Wrapper": "Keras's base class of layer wrappers (it serves the recurrent and spectral wrappers)",
    },
    "ops": {
        **dict.fromkeys(("conv", "conv_transpose", "depthwise_conv", "separable_conv", "average_pool", "max_pool",
                         "adaptive_average_pool", "adaptive_max_pool"), "convolution and pooling operations"),
        **dict.fromkeys(("ctc_loss", "ctc_decode"), "CTC (connectionist temporal classification, sequence labels)"),
        **dict.fromkeys(("eig", "polar", "view_as_complex", "view_as_real"), "complex numbers (its values are real)"),
    },
    "losses": dict.fromkeys(("CTC", "ctc"), "CTC (connectionist temporal classification, sequence labels)"),
    "backend": {
        **dict.fromkeys(("conv1d", "conv2d", "conv2d_transpose", "conv3d", "depthwise_conv2d", "separable_conv2d",
                         "pool2d", "pool3d", "resize_images", "resize_volumes", "spatial_2d_padding",
                         "spatial_3d_padding", "temporal_padding"), "convolution and pooling operations"),
        **dict.fromkeys(("rnn", "foldl", "foldr", "map_fn"), "recurrent loops over a sequence"),
        **dict.fromkeys(("ctc_batch_cost", "ctc_decode", "ctc_label_dense_to_sparse"),
                        "CTC (connectionist temporal classification, sequence labels)"),
    },
    "": {
        "applications": "keras.applications (pretrained convolutional networks for images)",
        "quantizers": _QUANTIZATION, "Quantizer": _QUANTIZATION,
        "RematScope": "rematerialization (recomputing activations to save memory)",
        "remat": "rematerialization (recomputing activations to save memory)",
    },
}

# Names within an MLP's reach that gpunn has not built: the whole sentence after the name
_NOT_BUILT: dict[str, dict[str, str]] = {
    "optimizers": dict.fromkeys(("MultiOptimizer", "OptimizerMap"), (
        "gpunn has no optimizers per group of weights: one optimizer trains every trained weight of a model "
        "(a frozen layer, trainable=False, takes none)")),
    "backend": {
        **dict.fromkeys(("learning_phase", "set_learning_phase"), (
            "gpunn has no learning phase (nor has Keras 3): fit trains in training mode, evaluate and predict run in "
            "inference mode, and a call takes training=True or False")),
        **dict.fromkeys(("in_train_phase", "in_test_phase"), (
            "Keras 3 (and gpunn) has no learning phase: a layer's call() takes training=None and branches on it")),
        "batch_dot": "Keras 3 (and gpunn) has no backend.batch_dot: keras.ops.matmul multiplies batches of matrices, "
                     "keras.ops.einsum any other pairing",
        **dict.fromkeys(("get_session", "set_session", "placeholder"), (
            "Keras 3 (and gpunn) has no TensorFlow sessions or placeholders: keras.Input makes a model's input, "
            "and a model runs when called")),
        **dict.fromkeys(("gradients", "update", "update_add", "update_sub", "moving_average_update"), (
            "gpunn builds no graph of symbolic updates or gradients: fit computes the gradients and updates the "
            "weights; a value is set with K.set_value or variable.assign")),
    },
    "ops": {"jvp": "gpunn has no forward-mode differentiation: its gradients come from the backward pass of the "
                   "training step"},
    "": {"export": ("gpunn has no export module: model.export(path, format=...) hands the model to Keras, which "
                    "writes a SavedModel, ONNX or OpenVINO; for an ExportArchive of your own, load the model's file "
                    "in Keras (keras.saving.load_model('model.keras')) and use Keras's keras.export.ExportArchive")},
}


class LeftOutError(NotImplementedError):
    """A Keras name gpunn leaves out, made or called."""


def _message(module_name: str, name: str) -> str | None:
    namespace = module_name.split(".", 1)[1] if "." in module_name else ""
    keras_name = "keras." + (namespace + "." if namespace else "") + name
    not_built = _NOT_BUILT.get(namespace, {}).get(name)
    if not_built is not None:
        return f"{keras_name}: {not_built}"
    left_out = _LEFT_OUT.get(namespace, {}).get(name)
    if left_out is not None:
        return f"{keras_name}: gpunn trains multilayer perceptrons and does not provide {left_out}"
    return None


def missing(module_name: str, name: str) -> AttributeError:
    """The AttributeError for ``module_name.name`` (``module_name`` a gpunn module's ``__name__``)."""
    message = _message(module_name, name)
    if message is None:  # Python's message, and its "Did you mean" from the module's names
        return AttributeError(f"module {module_name!r} has no attribute {name!r}", name=name,
                              obj=sys.modules.get(module_name))
    return AttributeError(message)


_STAND_INS: dict = {}


def stand_in(module_name: str, name: str):
    """What ``module_name.name`` gives for a Keras name gpunn leaves out: a class (a CamelCase name) or a function
    raising ``LeftOutError`` with the message when made or called; otherwise the AttributeError is raised."""
    message = _message(module_name, name)
    if message is None:
        raise missing(module_name, name)
    key = (module_name, name)
    if key not in _STAND_INS:
        def refuse(*args, **kwargs):
            raise LeftOutError(message)

        if name[:1].isupper():
            made = type(name, (), {"__init__": lambda self, *args, **kwargs: refuse(), "__doc__": message,
                                   "__module__": module_name})
        else:
            made = refuse
            made.__name__, made.__qualname__, made.__doc__, made.__module__ = name, name, message, module_name
        _STAND_INS[key] = made
    return _STAND_INS[key]
