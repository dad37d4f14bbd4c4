"""CNN stage: the two CNNs of the paper (Tables 1-2) and the Caffe-style pieces they need, in
Keras 3.

Written with ``keras.ops`` only, so the same code runs under the TensorFlow (the workflow's
default), JAX and PyTorch backends. Inputs are channels-last 12x12x1 patches. Where the tables'
Pad column disagrees with their Output column, the output shapes win:

* AlexNet-like (Table 1): conv 3x3 96 (same) -> LRN -> maxpool 2/2 to 6x6 -> conv 3x3 256 (same)
  -> LRN -> maxpool 2/2 to 3x3 -> conv 384 -> conv 384 (same) -> conv 256 with pad 2 to 5x5 ->
  maxpool 3x3 stride 1 to 3x3 -> FC 1024 -> dropout -> FC 512 -> dropout -> FC 2: 6,206,146 weights.
* VGG-like (Table 2): [conv 3x3 32 (same)] x 2 -> maxpool 2/2 -> [conv 3x3 32] x 2 -> maxpool 2/2
  -> FC 256 -> dropout -> FC 256 -> dropout -> FC 2: 168,354 weights.

Beyond the paper, one more net of the kind its future work asks for:

* ResNet-like (``resnet``; residual learning, He et al., "Deep residual learning for image
  recognition", CVPR 2016, in the small form used for MC patches): conv 3x3 32 (same) -> two
  residual blocks of 32 -> maxpool 2/2 to 6x6 -> two residual blocks of 64 (the first with a 1x1
  projection shortcut) -> maxpool 2/2 to 3x3 -> FC 256 -> dropout -> FC 2: 316,930 weights. A
  block is ``relu(x + conv(relu(conv(x))))`` with 3x3 same convolutions, no batch normalisation,
  so that it trains with the paper's protocol (SGD with momentum, Caffe's weight decay, the same
  initialisation) like the two others.

ReLU after every conv and hidden FC layer, dropout 0.5, zero biases, and the initialisation of the
paper's Caffe: the "xavier" filler, which in Caffe draws weights uniformly in +-sqrt(3 / fan_in)
(``variance_norm: FAN_IN``, its default; fan_in = kernel height x width x input channels), i.e.
Keras's ``VarianceScaling(1, "fan_in", "uniform")``, not Glorot's fan-average.

The last layer gives the two class **logits** (float32, also under mixed precision); the softmax
belongs to the loss (``from_logits=True``: the same softmax loss as Caffe's ``SoftmaxWithLoss``).
The detection score is the log-odds margin ``logit_MC - logit_background`` (``margin``), which
never saturates: a float32 softmax is exactly 1.0 for every margin above about 17, so ranks (and
the low-FPR end of the ROC) would be lost at the top.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

__all__ = ["CaffeLRN", "CaffeSGD", "build_model", "caffe_xavier", "margin", "ARCHITECTURES"]

ARCHITECTURES = ("alexnet", "vgg", "resnet")


@keras.saving.register_keras_serializable(package="mcdetect")
class CaffeLRN(layers.Layer):
    """Local response normalisation across channels with Caffe's semantics:

    ``b_c = a_c / (k + alpha / n * sum_{c' = c - n//2}^{c + n//2} a_{c'}^2) ** beta``

    (channels beyond the edges count as zero). Caffe divides alpha by the window size n;
    TensorFlow's ``tf.nn.local_response_normalization`` does not, and takes a half-width.

    The windowed sum over channels is one matrix product with a banded 0/1 matrix (C x C), which
    every backend runs as a GEMM: on CPU it trains the AlexNet-like net 1.3-1.7x faster than a sum
    of shifted slices (``benchmarks/train.py``), with the same values to float32 rounding.
    """

    def __init__(self, n: int = 5, k: float = 1.0, alpha: float = 1e-4, beta: float = 0.75,
                 **kwargs):
        super().__init__(**kwargs)
        if n % 2 != 1:
            raise ValueError(f"LRN window n must be odd, got {n}")
        self.n, self.k, self.alpha, self.beta = int(n), float(k), float(alpha), float(beta)

    def call(self, x):
        channels = int(x.shape[-1])
        idx = np.arange(channels)
        band = (np.abs(idx[:, None] - idx[None, :]) <= self.n // 2) * (self.alpha / self.n)
        scale = self.k + ops.matmul(ops.square(x), ops.convert_to_tensor(band, dtype=x.dtype))
        return x * ops.power(scale, -self.beta)

    def get_config(self):
        return {**super().get_config(), "n": self.n, "k": self.k, "alpha": self.alpha,
                "beta": self.beta}


@keras.saving.register_keras_serializable(package="mcdetect")
class CaffeSGD(keras.optimizers.SGD):
    """SGD with momentum and Caffe's weight decay: the decay enters the gradient, before momentum,
    ``v = momentum * v - lr * (g + decay * w); w = w + v`` (Keras's own ``weight_decay`` is
    decoupled from the gradient). Decay applies to kernels only (Caffe's usual decay_mult 0 for
    biases)."""

    def __init__(self, learning_rate=1e-3, momentum=0.9, decay: float = 5e-4, **kwargs):
        super().__init__(learning_rate=learning_rate, momentum=momentum, **kwargs)
        self.decay = float(decay)

    def update_step(self, gradient, variable, learning_rate):
        if self.decay and len(variable.shape) > 1:  # kernels, not biases
            gradient = ops.add(gradient, ops.multiply(ops.cast(self.decay, variable.dtype),
                                                      variable))
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "decay": self.decay}


def caffe_xavier(seed: int | None = None) -> keras.initializers.Initializer:
    """Caffe's "xavier" filler (default FAN_IN): uniform in +-sqrt(3 / fan_in)."""
    return keras.initializers.VarianceScaling(1.0, mode="fan_in", distribution="uniform",
                                              seed=seed)


def margin(logits):
    """The detection score: log-odds of the MC class, ``logit[:, 1] - logit[:, 0]``."""
    return logits[:, 1] - logits[:, 0]


def _conv(filters, name, seed, padding="same"):
    return layers.Conv2D(filters, 3, padding=padding, activation="relu", name=name,
                         kernel_initializer=caffe_xavier(seed), bias_initializer="zeros")


def _dense(units, name, seed, activation="relu", dtype=None):
    return layers.Dense(units, activation=activation, name=name, dtype=dtype,
                        kernel_initializer=caffe_xavier(seed), bias_initializer="zeros")


def _residual(x, filters, name, s):
    """A residual block: relu(shortcut(x) + conv(relu(conv(x)))); the shortcut is the identity,
    or a 1x1 projection where the number of channels changes."""
    y = _conv(filters, f"{name}_a", s())(x)
    y = layers.Conv2D(filters, 3, padding="same", name=f"{name}_b",
                      kernel_initializer=caffe_xavier(s()), bias_initializer="zeros")(y)
    if int(x.shape[-1]) != filters:
        x = layers.Conv2D(filters, 1, name=f"{name}_proj", kernel_initializer=caffe_xavier(s()),
                          bias_initializer="zeros")(x)
    return layers.Activation("relu", name=f"{name}_relu")(layers.Add(name=f"{name}_add")([x, y]))


def build_model(arch: str, size: int = 12, dropout: float = 0.5, lrn: dict | None = None,
                seed: int | None = None) -> keras.Model:
    """The AlexNet-like (``alexnet``), VGG-like (``vgg``) or ResNet-like (``resnet``) net for
    size x size x 1 patches; its output is the two class logits. ``seed`` fixes the initial
    weights and dropout masks."""
    lrn = {"n": 5, "k": 1.0, "alpha": 1e-4, "beta": 0.75, **(lrn or {})}
    counter = iter(range(1, 100))

    def s():  # one seed per layer, derived from ``seed``
        return None if seed is None else 1000 * int(seed) + next(counter)

    inputs = keras.Input((size, size, 1), name="patch")
    x = inputs
    if arch == "alexnet":
        x = _conv(96, "conv1", s())(x)
        x = CaffeLRN(**lrn, name="lrn1")(x)
        x = layers.MaxPooling2D(2, 2, name="pool1")(x)
        x = _conv(256, "conv2", s())(x)
        x = CaffeLRN(**lrn, name="lrn2")(x)
        x = layers.MaxPooling2D(2, 2, name="pool2")(x)
        x = _conv(384, "conv3", s())(x)
        x = _conv(384, "conv4", s())(x)
        x = layers.ZeroPadding2D(2, name="pad5")(x)
        x = _conv(256, "conv5", s(), padding="valid")(x)  # 3x3 -> 5x5
        x = layers.MaxPooling2D(3, 1, name="pool5")(x)  # 5x5 -> 3x3
        hidden = (1024, 512)
    elif arch == "vgg":
        x = _conv(32, "conv1_1", s())(x)
        x = _conv(32, "conv1_2", s())(x)
        x = layers.MaxPooling2D(2, 2, name="pool1")(x)
        x = _conv(32, "conv2_1", s())(x)
        x = _conv(32, "conv2_2", s())(x)
        x = layers.MaxPooling2D(2, 2, name="pool2")(x)
        hidden = (256, 256)
    elif arch == "resnet":
        x = _conv(32, "conv1", s())(x)
        x = _residual(x, 32, "res2a", s)
        x = _residual(x, 32, "res2b", s)
        x = layers.MaxPooling2D(2, 2, name="pool2")(x)
        x = _residual(x, 64, "res3a", s)
        x = _residual(x, 64, "res3b", s)
        x = layers.MaxPooling2D(2, 2, name="pool3")(x)
        hidden = (256,)
    else:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden, 1):
        x = _dense(units, f"fc{i}", s())(x)
        x = layers.Dropout(dropout, seed=None if seed is None else seed + i, name=f"drop{i}")(x)
    outputs = _dense(2, "fc_out", s(), activation=None, dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"{arch}_like")
