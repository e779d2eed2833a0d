"""Keras 3's sub-namespaces of ``keras.ops`` (``keras.ops.nn.sigmoid``, ``keras.ops.numpy.mean``,
``keras.ops.linalg.norm``): each holds, of the names Keras exports there, those gpunn.ops has (the same
functions as ``gpunn.ops``'s). Names from Keras 3.16's ``keras/src/ops``."""
from __future__ import annotations

import sys
import types

KERAS_NAMES = {
    "numpy": """
        abs absolute add all allclose amax amin angle any append arange arccos arccosh arcsin arcsinh
        arctan arctan2 arctanh argmax argmin argpartition argsort array array_split average bartlett
        bincount bitwise_and bitwise_invert bitwise_left_shift bitwise_not bitwise_or
        bitwise_right_shift bitwise_xor blackman broadcast_to cbrt ceil clip column_stack concatenate
        conj conjugate copy corrcoef correlate cos cosh count_nonzero cross cumprod cumsum deg2rad diag
        diagflat diagonal diff digitize divide divide_no_nan dot dsplit dstack einsum empty empty_like
        equal exp exp2 expand_dims expm1 eye fabs flip fliplr flipud floor floor_divide fmax fmin fmod
        full full_like gcd geomspace get_item greater greater_equal hamming hanning heaviside histogram
        hsplit hstack hypot i0 identity imag inner isclose isfinite isin isinf isnan isneginf isposinf
        isreal kaiser kron lcm ldexp left_shift less less_equal linspace log log10 log1p log2 logaddexp
        logaddexp2 logical_and logical_not logical_or logical_xor logspace matmul max maximum mean
        median meshgrid min minimum mod moveaxis multiply nan_to_num nanargmax nanargmin nancumprod
        nancumsum nanmax nanmean nanmedian nanmin nanpercentile nanprod nanquantile nanstd nansum nanvar
        ndim negative nextafter nonzero not_equal ones ones_like outer pad percentile power prod ptp
        quantile rad2deg ravel real reciprocal repeat reshape right_shift roll rot90 round searchsorted
        select sign signbit sin sinc sinh size slogdet sort split sqrt square squeeze stack std subtract
        sum swapaxes take take_along_axis tan tanh tensordot tile trace transpose trapezoid tri tril
        triu true_divide trunc unique unravel_index vander var vdot vectorize view vsplit vstack where
        zeros zeros_like""".split(),
    "nn": """
        adaptive_average_pool adaptive_max_pool average_pool batch_normalization binary_crossentropy
        categorical_crossentropy celu conv conv_transpose ctc_decode ctc_loss depth_to_space
        depthwise_conv dot_product_attention elu fold gelu glu hard_shrink hard_sigmoid hard_silu
        hard_swish hard_tanh layer_normalization leaky_relu log_sigmoid log_softmax max_pool moments
        multi_hot normalize one_hot polar psnr relu relu6 rms_normalization selu separable_conv sigmoid
        silu soft_shrink softmax softplus softsign space_to_depth sparse_categorical_crossentropy
        sparse_plus sparse_sigmoid sparsemax squareplus swish tanh_shrink threshold unfold""".split(),
    "linalg": """
        cholesky cholesky_inverse det eig eigh inv jvp lstsq lu_factor matrix_power matrix_rank norm
        pinv qr solve solve_triangular svd""".split(),
}


def install(package, functions: dict) -> None:
    """``package.numpy``, ``package.nn``, ``package.linalg`` (also importable: ``from gpunn.ops import nn``)."""
    for namespace, names in KERAS_NAMES.items():
        module = types.ModuleType(f"{package.__name__}.{namespace}",
                                  f"keras.ops.{namespace}'s functions that gpunn.ops has")
        for name in names:
            if name in functions:
                setattr(module, name, functions[name])
        module.__getattr__ = _left_out(package.__name__, module.__name__)
        setattr(package, namespace, module)
        sys.modules[module.__name__] = module


def install_image(package, functions: dict) -> None:
    """``package.image`` (``keras.ops.image``: ``from gpunn.ops import image`` too)."""
    module = types.ModuleType(f"{package.__name__}.image", "keras.ops.image's functions that gpunn.ops has")
    for name, function in functions.items():
        setattr(module, name, function)
    module.__getattr__ = _left_out(package.__name__, module.__name__)
    package.image = module
    sys.modules[module.__name__] = module


def _left_out(package_name: str, module_name: str):
    """The module's ``__getattr__``: a Keras name gpunn leaves out says so as under ``keras.ops``
    (``keras.ops.nn.conv`` as ``keras.ops.conv``: beyond_mlps.py), another is Python's AttributeError."""
    def __getattr__(name: str):
        from ..beyond_mlps import missing, stand_in

        try:
            return stand_in(package_name, name)
        except AttributeError:
            raise missing(module_name, name) from None

    return __getattr__
