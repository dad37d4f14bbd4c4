"""Detection stage: the patch CNNs' scores at every position of an image at once, exactly as the
nets score the 12x12 patches one by one (an exact convolutional, or "dense", form).

Why a plain fully convolutional pass is not enough
    Each net pads with zeros *inside* its patch: every 'same' convolution reads zeros beyond the
    patch's edge, and the AlexNet-like net pads its 3x3 map to 5x5 before conv5. Run the same
    weights once over the whole image and a position near a patch's edge sees the image's real
    pixels where the net saw zeros, so the scores differ.

The exact form
    Take one axis (the nets treat both alike) and a layer whose feature map in the patch has
    relative positions ``r = 0 .. n-1`` at a stride of ``s`` image pixels (1, then 2 and 4 after
    each 2x2 pooling). The feature at ``r`` of the patch whose top-left pixel is ``t`` depends on
    the image only through the pixels ``t + o + s*r + s*k`` it reads and on *how* its inputs
    meet the patch's edge. Positions that meet the edge in the same way form a **border class**:
    the input has one class; after a 'same' 3x3 convolution the class of ``r`` is the tuple of the
    classes of ``r-1, r, r+1``, with PAD where a tap falls in the padding (so 3 classes: first,
    interior, last); after the next one 5, and so on; a pooling's class is the tuple of the classes
    it reads. For every class ``c`` one dense map ``F_c`` over the image holds the feature of every
    patch: ``feature(t, r) = F_c[t + o + s*r]``. A class's map comes from the previous layer's class
    maps: the convolution with the taps that fall in the padding dropped, each tap reading the map
    of its own input class, dilated by ``s`` (tap ``k`` reads ``u + s*k``); a 2x2/2 pooling becomes
    a stride-1 maximum over a window dilated by ``s``, and ``s`` doubles; LRN acts on each class
    map; Flatten plus the first dense layer is a valid convolution whose kernel covers the whole
    final map (Flatten's channels-last order: row, column, channel); later dense layers act per
    position; dropout is the identity. In 2-D a class is a pair (row class, column class).

    Every tap product ``W_k . F_c`` is a matrix product over channels (one GEMM), computed once
    per (input class, tap) and shared by every output class that reads it; each output class map
    is the bias plus the sum of the shifted slices of its products. So a layer costs, per image
    position, (distinct (input class, tap) pairs) x C_in x C_out multiply-accumulates, against
    (output positions x taps) x C_in x C_out for one patch. Per axis the VGG-like net has 3, 5,
    3, 5, 6 and 3 classes after conv1_1, conv1_2, pool1, conv2_1, conv2_2 and pool2 (squared in
    2-D); ``mac_counts`` gives, per position against per patch, 413,472 against 2,171,904
    multiply-accumulates for the VGG-like net (at most 5.25x less arithmetic) and 24,094,560
    against 52,996,608 for the AlexNet-like one (2.20x). The gain is bounded because deep in the
    nets every relative position becomes its own class (its inputs meet the edge differently
    from every other's): those layers share nothing between overlapping patches and only skip
    the padding taps (conv3-conv5 of the AlexNet-like net, 20 of its 24 million), and the dense
    layers cost the same as per patch. The additions also move memory: 32 channels give 32
    multiply-accumulates per added value, which keeps the VGG-like net further below its bound.

The image is processed in tiles of output positions (plus the receptive margin each class map
needs) so memory stays bounded; tiles without a wanted position are skipped, and worker threads
run the tiles. The arithmetic is numpy's (BLAS GEMMs, additions in place on views): with
TensorFlow ops (eager, in a tf.function or compiled by XLA) the strided slices of the products
made the whole map slower than scoring patch by patch, and one dilated convolution per output
and input class would give up the sharing. The walker reads
the Keras layers (Conv2D 'same'/'valid' with stride and dilation 1, ZeroPadding2D, MaxPooling2D
'valid', CaffeLRN, activations, Dropout, Flatten, Dense), so both nets go through one code path.
Computed in float32 from the layers' weights (a mixed-precision model's own float16 scores differ
from these by its rounding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["dense_margins", "fast_here", "mac_counts", "plan", "supported"]

PAD = -1  # class of a zero-padded position


@dataclass
class _Axis:
    """One axis of a layer's output in the patch: the class of each relative position, the stride
    in image pixels and the image offset of position 0 (relative to the patch's top-left)."""

    cls: list[int]
    n_cls: int
    s: int
    o: int


@dataclass(eq=False)
class _Step:
    """One computing step. ``taps[axis][out_class]`` lists (kernel index, input class, image
    shift) for kind "conv" and "pool"; kind "pointwise" applies ``layer`` to every class map."""

    kind: str
    taps: tuple = ()
    n_out: tuple = ()  # classes per axis of the output
    kernel: object = None  # (Ky, Kx, Cin, Cout)
    bias: object = None
    activation: object = None
    layer: object = None
    name: str = ""
    patch_macs: int = 0  # as the net computes one patch (padding taps included)
    patch_macs_nonzero: int = 0  # one patch, padding taps skipped
    dom: list = field(default_factory=list)  # per axis, per out class: (emin, emax) or None


def _conv_axis(ax: _Axis, k: int, pad: int, n_out: int):
    """Output classes and taps of a stride-1 correlation of ``k`` taps, ``pad`` before."""
    n = len(ax.cls)
    keys, cls, taps, nonzero = {}, [], [], 0
    for r in range(n_out):
        key = tuple(ax.cls[r + j - pad] if 0 <= r + j - pad < n else PAD for j in range(k))
        nonzero += sum(c != PAD for c in key)
        if key not in keys:
            keys[key] = len(keys)
            taps.append([(j, c, ax.s * (j - pad)) for j, c in enumerate(key) if c != PAD])
        cls.append(keys[key])
    return _Axis(cls, len(keys), ax.s, ax.o), taps, nonzero


def _pool_axis(ax: _Axis, size: int, stride: int):
    n_out = (len(ax.cls) - size) // stride + 1
    keys, cls, taps = {}, [], []
    for j in range(n_out):
        key = tuple(ax.cls[stride * j + a] for a in range(size))
        if PAD in key:
            raise NotImplementedError("pooling over zero padding")
        if key not in keys:
            keys[key] = len(keys)
            taps.append([(a, c, ax.s * a) for a, c in enumerate(key)])
        cls.append(keys[key])
    return _Axis(cls, len(keys), ax.s * stride, ax.o), taps


def plan(model) -> tuple[list[_Step], int]:
    """The dense form of ``model`` (a patch CNN taking size x size x 1 channels-last patches and
    giving logits): its steps, with the per-axis domain each output class map needs relative to
    a tile of patch top-left positions, and the patch size."""
    from keras import layers

    from mcdetect.cnn.models import CaffeLRN

    _, size_y, size_x, channels = model.input_shape
    if size_y != size_x or channels != 1:
        raise ValueError("square one-channel patches only")
    axes = [_Axis([0] * size_y, 1, 1, 0), _Axis([0] * size_x, 1, 1, 0)]
    steps: list[_Step] = []
    flat = False

    def add_conv(name, kernel, bias, activation, pads, out_sizes):
        nonlocal axes, channels
        ky, kx, cin, cout = kernel.shape
        new_axes, taps, nonzero = [], [], 1
        for ax, k, pad, n_out in zip(axes, (ky, kx), pads, out_sizes, strict=True):
            a, t, nz = _conv_axis(ax, k, pad, n_out)
            new_axes.append(a)
            taps.append(t)
            nonzero *= nz
        steps.append(_Step("conv", tuple(taps), tuple(a.n_cls for a in new_axes),
                           np.asarray(kernel, np.float32), np.asarray(bias, np.float32),
                           activation, name=name,
                           patch_macs=out_sizes[0] * out_sizes[1] * ky * kx * cin * cout,
                           patch_macs_nonzero=nonzero * cin * cout))
        axes, channels = new_axes, cout

    for layer in model.layers:
        if isinstance(layer, layers.InputLayer):
            continue
        if flat and not isinstance(layer, layers.Dense):
            raise NotImplementedError(f"{layer.name}: only Dense may follow Flatten")
        if isinstance(layer, layers.Conv2D):
            if (tuple(layer.strides) != (1, 1) or tuple(layer.dilation_rate) != (1, 1)
                    or layer.groups != 1 or layer.data_format != "channels_last"
                    or layer.padding not in ("same", "valid")):
                raise NotImplementedError(f"{layer.name}: unsupported convolution settings")
            kernel = layer.kernel.numpy()
            bias = layer.bias.numpy() if layer.use_bias else np.zeros(kernel.shape[-1])
            ks = kernel.shape[:2]
            if layer.padding == "same":
                pads, out = [(k - 1) // 2 for k in ks], [len(a.cls) for a in axes]
            else:
                pads, out = [0, 0], [len(a.cls) - k + 1 for a, k in zip(axes, ks, strict=True)]
            add_conv(layer.name, kernel, bias, layer.activation, pads, out)
        elif isinstance(layer, layers.Dense):
            kernel = layer.kernel.numpy()
            bias = layer.bias.numpy() if layer.use_bias else np.zeros(kernel.shape[-1])
            if flat:  # Flatten + Dense: a valid convolution over the whole final map
                ny, nx = (len(a.cls) for a in axes)
                kernel = kernel.reshape(ny, nx, channels, kernel.shape[-1])
                add_conv(layer.name, kernel, bias, layer.activation, [0, 0], [1, 1])
                flat = False
            else:  # per position
                add_conv(layer.name, kernel[None, None], bias, layer.activation, [0, 0],
                         [len(a.cls) for a in axes])
        elif isinstance(layer, layers.ZeroPadding2D):
            if layer.data_format != "channels_last":
                raise NotImplementedError(f"{layer.name}: channels_last only")
            axes = [_Axis([PAD] * p0 + a.cls + [PAD] * p1, a.n_cls, a.s, a.o - a.s * p0)
                    for a, (p0, p1) in zip(axes, layer.padding, strict=True)]
        elif isinstance(layer, layers.MaxPooling2D):
            if layer.padding != "valid" or layer.data_format != "channels_last":
                raise NotImplementedError(f"{layer.name}: valid channels-last pooling only")
            new_axes, taps = [], []
            for ax, size, stride in zip(axes, layer.pool_size, layer.strides, strict=True):
                a, t = _pool_axis(ax, size, stride)
                new_axes.append(a)
                taps.append(t)
            steps.append(_Step("pool", tuple(taps), tuple(a.n_cls for a in new_axes),
                               name=layer.name))
            axes = new_axes
        elif isinstance(layer, layers.Flatten):
            if layer.data_format != "channels_last":
                raise NotImplementedError(f"{layer.name}: channels_last only")
            flat = True
        elif isinstance(layer, layers.Dropout):
            continue  # identity at inference
        elif isinstance(layer, CaffeLRN | layers.Activation | layers.ReLU):
            steps.append(_Step("pointwise", n_out=tuple(a.n_cls for a in axes), layer=layer,
                               name=layer.name))
        else:
            raise NotImplementedError(f"layer {layer.name} ({type(layer).__name__})")
    if any(len(a.cls) != 1 for a in axes) or channels != 2:
        raise ValueError("the net must end in one position with two logits")
    # per-axis domains, backwards: the final map at t + o; a tap reading input class c at shift
    # d for an output needed on [t0 + e0, t1 + e1) needs c on [t0 + e0 + d, t1 + e1 + d)
    need = [[(a.o, a.o)] for a in axes]
    for step in reversed(steps):
        step.dom = need
        if step.kind == "pointwise":
            continue
        n_in = _n_in(steps, step)
        prev = [[None] * n for n in n_in]
        for axis in (0, 1):
            for c_out, taps in enumerate(step.taps[axis]):
                if need[axis][c_out] is None:
                    continue
                e0, e1 = need[axis][c_out]
                for _, c, d in taps:
                    old = prev[axis][c]
                    prev[axis][c] = ((e0 + d, e1 + d) if old is None
                                     else (min(old[0], e0 + d), max(old[1], e1 + d)))
        need = prev
    if any(n[0][0] < 0 or n[0][1] > size_y - 1 for n in need):
        raise AssertionError(f"the dense form reads outside the patch: {need}")
    return steps, size_y


def _n_in(steps, step):
    """Classes per axis of a step's input."""
    i = steps.index(step)
    return steps[i - 1].n_out if i else (1, 1)


def _input_dom(steps):
    """Per-axis domain of the image the first step reads."""
    first = steps[0]
    dom = []
    for axis in (0, 1):
        lo, hi = None, None
        for c_out, taps in enumerate(first.taps[axis]):
            if first.dom[axis][c_out] is None:
                continue
            e0, e1 = first.dom[axis][c_out]
            for _, _, d in taps:
                lo = e0 + d if lo is None else min(lo, e0 + d)
                hi = e1 + d if hi is None else max(hi, e1 + d)
        dom.append((lo, hi))
    return dom


def mac_counts(model) -> dict:
    """Multiply-accumulates of the convolution and dense layers: per image position in the dense
    form (``dense``), per patch as the net computes it (``patch``, padding taps included) and per
    patch with the padding taps skipped (``patch_nonzero``); the possible gain ``bound`` =
    patch / dense. Pooling, LRN, bias and activations are not counted."""
    steps, _ = plan(model)
    dense = patch = nonzero = 0
    for step in steps:
        if step.kind != "conv":
            continue
        n_in = _n_in(steps, step)
        used = [[set() for _ in range(n)] for n in n_in]
        for axis in (0, 1):
            for c_out, taps in enumerate(step.taps[axis]):
                if step.dom[axis][c_out] is not None:
                    for k, c, _ in taps:
                        used[axis][c].add(k)
        pairs = sum(len(a) for a in used[0]) * sum(len(b) for b in used[1])
        _, _, cin, cout = step.kernel.shape
        dense += pairs * cin * cout
        patch += step.patch_macs
        nonzero += step.patch_macs_nonzero
    return {"dense": dense, "patch": patch, "patch_nonzero": nonzero, "bound": patch / dense}


def _peak_floats(steps) -> int:
    """Largest number of floats per tile position alive in one step (input and output class
    maps and one tap product), to size the tiles."""
    peak, n_in_ch = 0, 1
    for step in steps:
        n_in = _n_in(steps, step)
        out_cls = math.prod(sum(d is not None for d in dom) for dom in step.dom)
        if step.kind == "conv":
            cout = step.kernel.shape[-1]
            live = math.prod(n_in) * n_in_ch + out_cls * cout + cout
            n_in_ch = cout
        else:
            live = math.prod(n_in) * n_in_ch + out_cls * n_in_ch
        peak = max(peak, live)
    return peak


def _schedule(steps) -> list:
    """Per step, tile-independent: the extent each output class map adds to the tile's size, and
    per input 2-D class the products it enters (its kernel taps) and, per tap, the (output class,
    row offset, column offset) of each slice that output adds."""
    (y0, y1), (x0, x1) = _input_dom(steps)
    in_dom = [[(y0, y1)], [(x0, x1)]]
    out = []
    for step in steps:
        keep = [[c for c, d in enumerate(dom) if d is not None] for dom in step.dom]
        ext = {(oy, ox): (step.dom[0][oy][1] - step.dom[0][oy][0],
                          step.dom[1][ox][1] - step.dom[1][ox][0])
               for oy in keep[0] for ox in keep[1]}
        uses: dict = {}  # input class -> {(ky, kx): [(output class, sy, sx), ...]}
        for oy, ox in ext if step.kind != "pointwise" else ():
            for ky, cy, dy in step.taps[0][oy]:
                sy = step.dom[0][oy][0] + dy - in_dom[0][cy][0]
                for kx, cx, dx in step.taps[1][ox]:
                    sx = step.dom[1][ox][0] + dx - in_dom[1][cx][0]
                    uses.setdefault((cy, cx), {}).setdefault((ky, kx), []).append(
                        ((oy, ox), sy, sx))
        out.append((ext, uses))
        in_dom = step.dom
    return out


def _activate(fn, a: np.ndarray) -> np.ndarray:
    name = getattr(fn, "__name__", "")
    if name == "relu":
        return np.maximum(a, 0, out=a)
    if name == "linear":
        return a
    return np.asarray(fn(a), np.float32)


def _pointwise(layer, a: np.ndarray) -> np.ndarray:
    """A per-position layer on one class map (numpy, float32)."""
    from keras import layers

    from mcdetect.cnn.models import CaffeLRN

    if isinstance(layer, CaffeLRN):  # CaffeLRN.call, in numpy
        idx = np.arange(a.shape[-1])
        band = ((np.abs(idx[:, None] - idx[None, :]) <= layer.n // 2)
                * (layer.alpha / layer.n)).astype(np.float32)
        scale = np.square(a) @ band
        scale += np.float32(layer.k)
        np.power(scale, np.float32(-layer.beta), out=scale)
        return np.multiply(a, scale, out=scale)
    if isinstance(layer, layers.Activation):
        return _activate(layer.activation, a.copy())
    return np.asarray(layer(a), np.float32)


def _tile(steps, sched, x, ty, tx, n_y, n_x) -> np.ndarray:
    """The logits (n_y, n_x, 2) of the patches with top-left rows ty .. ty + n_y - 1 and columns
    tx .. tx + n_x - 1 of the standardised image ``x`` (H x W, float32)."""
    (y0, y1), (x0, x1) = _input_dom(steps)
    maps = {(0, 0): x[ty + y0:ty + n_y + y1, tx + x0:tx + n_x + x1, None]}
    for step, (ext, uses) in zip(steps, sched, strict=True):
        if step.kind == "pointwise":
            maps = {key: _pointwise(step.layer, maps[key]) for key in ext}
            continue
        acc: dict = {}
        for c, taps in uses.items():
            m = maps[c]
            hy, hx, cin = m.shape
            for (ky, kx), targets in taps.items():
                if step.kind == "pool":
                    q = m
                elif cin == 1:
                    q = m * step.kernel[ky, kx, 0]
                else:
                    q = (m.reshape(-1, cin) @ step.kernel[ky, kx]).reshape(hy, hx, -1)
                for key, sy, sx in targets:
                    part = q[sy:sy + n_y + ext[key][0], sx:sx + n_x + ext[key][1]]
                    if key not in acc:
                        acc[key] = part.copy() if step.kind == "pool" else part + step.bias
                    elif step.kind == "pool":
                        np.maximum(acc[key], part, out=acc[key])
                    else:
                        np.add(acc[key], part, out=acc[key])
            del maps[c]  # free each input class map once used
        for key, (ey, ex) in ext.items():
            if key not in acc:  # every tap in the padding: the bias alone
                acc[key] = np.broadcast_to(step.bias, (n_y + ey, n_x + ex, len(step.bias))).copy()
            if step.kind == "conv":
                acc[key] = _activate(step.activation, acc[key])
        maps = acc
    return maps[0, 0]


def _threadpool_limits():
    """threadpoolctl's ``threadpool_limits``, or None where threadpoolctl is not installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits


def supported(model) -> bool:
    """Whether the dense form handles ``model``'s layers (the paper's two nets; not, e.g., the
    residual net's additions, which ``score_map`` then scores patch by patch)."""
    try:
        plan(model)
    except NotImplementedError:
        return False
    return True


def fast_here() -> bool:
    """Whether the dense form can run its tiles in worker threads with a one-thread BLAS each
    (threadpoolctl installed). Without, it runs one worker on the BLAS's own threads, which on 2
    cores stall beside TensorFlow's: the map was then 0.1-0.8x the speed of scoring patch by
    patch, against 1.9-3x with (VGG-like net)."""
    return _threadpool_limits() is not None


def dense_margins(model, x: np.ndarray, where: np.ndarray | None = None, *,
                  tile: int | None = None, memory_mb: float = 512,
                  workers: int | None = None) -> np.ndarray:
    """The net's log-odds margins (``logit_MC - logit_background``) at every position of the
    standardised float image ``x`` (H x W), equal to scoring each patch with the net: the value
    at (row, col) is that of the patch whose top-left pixel is (row - size//2, col - size//2),
    as ``mcdetect.patches.samples.extract`` cuts it. NaN where the patch does not fit in the
    image and, given ``where`` (H x W bool), where ``where`` is False.

    Tiles of ``tile`` x ``tile`` positions (default 64, smaller where the workers' tiles would
    take more than ``memory_mb``), each cut to the bounding box of its wanted positions; tiles
    holding none are skipped. ``workers`` threads (default: one per usable CPU) run the tiles,
    each with a one-thread BLAS (threadpoolctl, in the lock through scikit-learn; without it,
    one worker)."""
    import contextlib
    import os
    from concurrent.futures import ThreadPoolExecutor

    steps, size = plan(model)
    sched = _schedule(steps)
    x = np.ascontiguousarray(x, np.float32)
    rows, cols = x.shape
    half = size // 2
    out = np.full((rows, cols), np.nan, np.float32)
    n_ty, n_tx = rows - size + 1, cols - size + 1
    if n_ty <= 0 or n_tx <= 0:
        return out
    want = np.ones((n_ty, n_tx), bool) if where is None else np.asarray(
        where, bool)[half:half + n_ty, half:half + n_tx]
    threadpool_limits = _threadpool_limits()
    if workers is None:
        cpus = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                else os.cpu_count() or 1)
        workers = cpus if threadpool_limits is not None else 1
    if tile is None:  # 64 (measured best on 2 cores: the GEMM outputs stay near the cache),
        side = math.sqrt(memory_mb * 2**20 / (4 * _peak_floats(steps) * workers))
        tile = max(8, min(64, int(side) // 8 * 8))  # less where memory_mb asks
    jobs = []  # each tile cut to the bounding box of its wanted positions; empty ones skipped
    for ty in range(0, n_ty, tile):
        for tx in range(0, n_tx, tile):
            ys, xs = np.nonzero(want[ty:ty + tile, tx:tx + tile])
            if len(ys):
                jobs.append((ty + ys.min(), tx + xs.min(), ys.max() - ys.min() + 1,
                             xs.max() - xs.min() + 1))

    def run(job):
        ty, tx, n_y, n_x = job
        logits = _tile(steps, sched, x, ty, tx, n_y, n_x)
        out[half + ty:half + ty + n_y, half + tx:half + tx + n_x] = (
            logits[..., 1] - logits[..., 0])

    with (threadpool_limits(1, user_api="blas") if threadpool_limits is not None
          else contextlib.nullcontext()):
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(run, jobs))
        else:
            for job in jobs:
                run(job)
    if where is not None:
        out[~np.asarray(where, bool)] = np.nan
    return out
