"""Array backend: NumPy on 'cpu', CuPy on 'cuda'.

This is the only module that imports CuPy. Everything else asks it for the array
module (``xp``) that goes with an array or a device, and for the few shims where
NumPy and CuPy differ (scatter-add, stride tricks, host transfers).

It also owns tinynet's fused elementwise kernels (the optimizers' updates, dropout's
mask): each is a few lines of CUDA C for ``cupy.ElementwiseKernel`` with the NumPy
function beside it that computes the same thing. The NumPy function is what runs on
the CPU, and the reference the CUDA source is tested against. On the GPU one call is
one kernel launch instead of one per ``+``, ``*`` and ``sqrt``.

There is no default device setting: arrays go where the caller says ('cpu' unless
told), and ``Module.to(device)`` moves a model.
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import numpy as np

try:  # CuPy is optional: tinynet runs on NumPy alone.
    import cupy as _cupy
    import cupyx as _cupyx
    _cupy_error = None
except Exception as e:  # ImportError, or a CuPy install without a working CUDA runtime
    _cupy = _cupyx = None
    _cupy_error = e

DEVICES = ("cpu", "cuda")

_INSTALL = ("Install the CuPy wheel for your CUDA major version, with the CUDA libraries from pip "
            "unless a CUDA toolkit is installed: `pip install \"cupy-cuda12x[ctk]\"` (CUDA 12.x) or "
            "`pip install \"cupy-cuda13x[ctk]\"` (13.x); `nvidia-smi` shows the driver's CUDA version. "
            "Check it with `python -c \"import cupy; cupy.show_config()\"` (docs/gpu.md), or use device='cpu'.")


# ----------------------------------------------------------------------------- devices
def cuda_unavailable_reason() -> str | None:
    """Why 'cuda' cannot be used here (missing CuPy, driver, device or CUDA libraries), or None."""
    if _cupy is None:
        if isinstance(_cupy_error, ModuleNotFoundError) and _cupy_error.name == "cupy":
            return "CuPy is not installed"
        return f"CuPy is installed but does not import ({type(_cupy_error).__name__}: {_cupy_error})"
    return _probe(_cupy)


@functools.cache
def _probe(cupy) -> str | None:
    """Ask the driver for a device, then run one tiny matmul: with a CuPy wheel but no CUDA
    toolkit (and no ``[ctk]`` extra) the device is found but cuBLAS fails to load. Cached per
    CuPy module: a GPU does not come and go within a process."""
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        return (f"CuPy cannot talk to a CUDA driver ({type(e).__name__}: {e}); "
                "check that `nvidia-smi` works")
    if count == 0:
        return "CuPy found no CUDA device"
    try:
        a = cupy.ones((2, 2), dtype=np.float32)
        float((a @ a).sum())
    except Exception as e:
        return (f"CuPy sees {count} GPU(s) but cannot run on them ({type(e).__name__}: {e}); a "
                "missing libcublas/libcublasLt means the CUDA libraries are not installed: install "
                "the CUDA toolkit that matches the wheel, or the wheel's [ctk] extra")
    return None


def cuda_available() -> bool:
    """True when CuPy imports, sees a CUDA device and can run a kernel on it."""
    return cuda_unavailable_reason() is None


def check_device(device, name: str = "device") -> str:
    """Validate a device name and return it normalised ('cpu' or 'cuda')."""
    if not isinstance(device, str):
        raise TypeError(f"{name} must be 'cpu' or 'cuda', got {device!r} of type {type(device).__name__}")
    dev = device.strip().lower()
    if dev.startswith("cuda:"):  # accept 'cuda:0' for familiarity; one GPU only
        dev = "cuda"
    if dev not in DEVICES:
        raise ValueError(f"{name}={device!r} is not a device; use 'cpu' or 'cuda'")
    if dev == "cuda":
        why = cuda_unavailable_reason()
        if why is not None:
            raise ValueError(f"{name}='cuda' was requested but {why}. {_INSTALL}")
    return dev


def xp_for_device(device: str):
    """The array module for a validated device name."""
    return _cupy if device == "cuda" else np


def get_array_module(array):
    """numpy or cupy, whichever ``array`` belongs to."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy
    return np


def is_array(x) -> bool:
    """A NumPy or a CuPy array (not a scalar, not a list)."""
    return isinstance(x, np.ndarray) or (_cupy is not None and isinstance(x, _cupy.ndarray))


def device_of(array) -> str:
    return "cuda" if _cupy is not None and isinstance(array, _cupy.ndarray) else "cpu"


def to_device(array, device: str):
    """Move an array to ``device`` (no copy when it is already there)."""
    if device == "cuda":
        return _cupy.asarray(array)
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy.asnumpy(array)
    return np.asarray(array)


def to_numpy(array) -> np.ndarray:
    return to_device(array, "cpu")


# ----------------------------------------------------------------------------- shims
def scatter_add(target, indices, values) -> None:
    """``target[indices] += values`` where repeated indices accumulate (in place)."""
    if get_array_module(target) is np:
        np.add.at(target, indices, values)
    else:
        _cupyx.scatter_add(target, indices, values)


def as_strided(array, shape, strides):
    """A strided view of ``array`` (read-only use only: views overlap)."""
    if get_array_module(array) is np:
        return np.lib.stride_tricks.as_strided(array, shape=shape, strides=strides, writeable=False)
    return _cupy.lib.stride_tricks.as_strided(array, shape=shape, strides=strides)


def is_broadcast_view(array) -> bool:
    """True when writing one element of ``array`` would change others (a stride of 0 on an axis
    longer than 1), or NumPy marks it read-only. CuPy arrays have no read-only flag, so the
    strides are what tells."""
    if not getattr(array.flags, "writeable", True):
        return True
    return any(s == 0 and n > 1 for s, n in zip(array.strides, array.shape))


# ----------------------------------------------------------------------------- fused kernels
class Kernel(NamedTuple):
    """One fused elementwise op: CUDA C for ``cupy.ElementwiseKernel`` and its NumPy twin.

    ``reference(*inputs, *outputs)`` writes the outputs in place, exactly as the kernel does;
    the outputs may also be read (they are in/out, like the parameter being updated).
    """

    name: str
    in_params: str
    out_params: str
    cuda: str
    reference: Callable


KERNELS: dict[str, Kernel] = {}  # filled once, below, at import


def _elementwise(name, in_params, out_params, cuda):
    """Decorator: register the NumPy function below it as the reference of this CUDA kernel."""
    def register(reference):
        KERNELS[name] = Kernel(name, in_params, out_params, cuda, reference)
        return reference
    return register


@functools.cache
def _compiled(cupy, name):
    """The ElementwiseKernel for ``name``, built once per process; CuPy compiles and caches one
    binary per dtype (``T``) on first use."""
    k = KERNELS[name]
    return cupy.ElementwiseKernel(k.in_params, k.out_params, k.cuda, name)


def launch(name, *args):
    """Run kernel ``name`` on ``args`` (inputs, then outputs, all on one device): the CUDA kernel
    on CuPy arrays, the NumPy reference on NumPy arrays."""
    if get_array_module(args[-1]) is np:
        KERNELS[name].reference(*args)
    else:
        _compiled(_cupy, name)(*args)


# Optimizer updates. Every scalar coefficient (1 - beta, lr / bias correction, ...) is computed
# once on the host in double precision and passed in, so the CUDA and NumPy versions round alike.
# d = g + weight_decay * p is L2 weight decay (weight_decay 0 leaves g as it is).

@_elementwise("tinynet_sgd", "T g, T lr, T weight_decay", "T p", """
    p -= lr * (g + weight_decay * p);
""")
def sgd(g, lr, weight_decay, p):
    d = g + weight_decay * p if weight_decay else g
    p -= lr * d


@_elementwise("tinynet_sgd_momentum",
              "T g, T lr, T momentum, T one_minus_dampening, T weight_decay, bool nesterov, bool first",
              "T p, T v", """
    T d = g + weight_decay * p;
    v = first ? d : momentum * v + one_minus_dampening * d;
    p -= lr * (nesterov ? d + momentum * v : v);
""")
def sgd_momentum(g, lr, momentum, one_minus_dampening, weight_decay, nesterov, first, p, v):
    """PyTorch's form: v = m v + (1 - dampening) d (v = d on the first step); p -= lr v."""
    d = g + weight_decay * p if weight_decay else g
    if first:
        v[...] = d
    else:
        v *= momentum
        v += one_minus_dampening * d if one_minus_dampening != 1 else d
    p -= lr * (d + momentum * v if nesterov else v)


@_elementwise("tinynet_sgd_caffe", "T g, T lr, T momentum, T weight_decay, bool nesterov", "T p, T v", """
    T step = lr * (g + weight_decay * p);
    v = momentum * v + step;
    p -= nesterov ? step + momentum * v : v;
""")
def sgd_caffe(g, lr, momentum, weight_decay, nesterov, p, v):
    """Caffe's form: v = m v + lr d; p -= v (Nesterov: p -= lr d + m v)."""
    step = lr * (g + weight_decay * p if weight_decay else g)
    v *= momentum
    v += step
    p -= step + momentum * v if nesterov else v


@_elementwise("tinynet_adam",
              "T g, T beta1, T one_minus_beta1, T beta2, T one_minus_beta2, T eps, T weight_decay, "
              "T sqrt_bias2, T step_size", "T p, T m, T v", """
    T d = g + weight_decay * p;
    m = beta1 * m + one_minus_beta1 * d;
    v = beta2 * v + one_minus_beta2 * (d * d);
    p -= m / (sqrt(v) / sqrt_bias2 + eps) * step_size;
""")
def adam(g, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, sqrt_bias2, step_size, p, m, v):
    """m = b1 m + (1 - b1) d;  v = b2 v + (1 - b2) d^2;  p -= m / (sqrt(v) / sqrt(1 - b2^t) + eps) * lr / (1 - b1^t)."""
    d = g + weight_decay * p if weight_decay else g
    m *= beta1
    m += one_minus_beta1 * d
    v *= beta2
    v += one_minus_beta2 * (d * d)
    p -= m / (np.sqrt(v) / sqrt_bias2 + eps) * step_size


@_elementwise("tinynet_rmsprop", "T g, T lr, T alpha, T one_minus_alpha, T eps, T weight_decay", "T p, T s", """
    T d = g + weight_decay * p;
    s = alpha * s + one_minus_alpha * (d * d);
    p -= lr * (d / (sqrt(s) + eps));
""")
def rmsprop(g, lr, alpha, one_minus_alpha, eps, weight_decay, p, s):
    """s = a s + (1 - a) d^2;  p -= lr d / (sqrt(s) + eps)."""
    d = g + weight_decay * p if weight_decay else g
    s *= alpha
    s += one_minus_alpha * (d * d)
    p -= lr * (d / (np.sqrt(s) + eps))


@_elementwise("tinynet_rmsprop_momentum",
              "T g, T lr, T alpha, T one_minus_alpha, T eps, T weight_decay, T momentum", "T p, T s, T b", """
    T d = g + weight_decay * p;
    s = alpha * s + one_minus_alpha * (d * d);
    b = momentum * b + d / (sqrt(s) + eps);
    p -= lr * b;
""")
def rmsprop_momentum(g, lr, alpha, one_minus_alpha, eps, weight_decay, momentum, p, s, b):
    """As rmsprop, then b = m b + d / (sqrt(s) + eps);  p -= lr b."""
    d = g + weight_decay * p if weight_decay else g
    s *= alpha
    s += one_minus_alpha * (d * d)
    b *= momentum
    b += d / (np.sqrt(s) + eps)
    p -= lr * b


@_elementwise("tinynet_adagrad", "T g, T lr, T eps, T weight_decay", "T p, T s", """
    T d = g + weight_decay * p;
    s += d * d;
    p -= d / (sqrt(s) + eps) * lr;
""")
def adagrad(g, lr, eps, weight_decay, p, s):
    """s += d^2;  p -= lr d / (sqrt(s) + eps)."""
    d = g + weight_decay * p if weight_decay else g
    s += d * d
    p -= d / (np.sqrt(s) + eps) * lr


@_elementwise("tinynet_adadelta", "T g, T lr, T rho, T one_minus_rho, T eps, T weight_decay", "T p, T s, T a", """
    T d = g + weight_decay * p;
    s = rho * s + one_minus_rho * (d * d);
    T u = sqrt(a + eps) / sqrt(s + eps) * d;
    a = rho * a + one_minus_rho * (u * u);
    p -= lr * u;
""")
def adadelta(g, lr, rho, one_minus_rho, eps, weight_decay, p, s, a):
    """s = r s + (1 - r) d^2;  u = sqrt(a + eps) / sqrt(s + eps) d;  a = r a + (1 - r) u^2;  p -= lr u."""
    d = g + weight_decay * p if weight_decay else g
    s *= rho
    s += one_minus_rho * (d * d)
    u = np.sqrt(a + eps) / np.sqrt(s + eps) * d
    a *= rho
    a += one_minus_rho * (u * u)
    p -= lr * u


# Local response normalisation: a window sum along one axis, then the elementwise rest in one
# pass each way. The window sum reads neighbours, so x is passed "raw" (indexed by hand): the
# axis has length n and stride ``inner`` elements in a C-contiguous array.

@_elementwise("tinynet_window_sum", "raw T x, int64 length, int64 inner, int64 before, int64 after", "T s", """
    const long long pos = (i / inner) % length;
    T acc = 0;
    for (long long o = -before; o <= after; ++o) {
        if (pos + o >= 0 && pos + o < length) acc += x[i + o * inner];
    }
    s = acc;
""")
def window_sum(x, length, inner, before, after, s):
    """s[.., j, ..] = sum_{o=-before..after} x[.., j + o, ..] along an axis of ``length`` (zeros outside),
    in the kernel's order of additions. x and s are C-contiguous."""
    n = length
    x3, s3 = x.reshape(-1, n, inner), s.reshape(-1, n, inner)
    for o in range(-before, after + 1):
        lo, hi = max(0, -o), min(n, n - o)  # positions j whose neighbour j + o exists
        if o == -before:  # the first term: 0 + x is x, so assign (and zero where there is none)
            s3[:, :lo] = 0
            s3[:, hi:] = 0
            s3[:, lo:hi] = x3[:, lo + o:hi + o]
        elif lo < hi:
            s3[:, lo:hi] += x3[:, lo + o:hi + o]


@_elementwise("tinynet_lrn_forward", "T x, T window, T scale, T k, T beta", "T s, T inv, T y", """
    s = k + scale * window;
    inv = pow(s, -beta);
    y = x * inv;
""")
def lrn_forward(x, window, scale, k, beta, s, inv, y):
    """s = k + scale * W(x^2);  inv = s^-beta;  y = x * inv."""
    np.multiply(window, scale, out=s)
    s += k
    np.power(s, -beta, out=inv)
    np.multiply(x, inv, out=y)


@_elementwise("tinynet_lrn_backward_in", "T gy, T x, T inv, T s", "T t", """
    t = gy * x * inv / s;
""")
def lrn_backward_in(gy, x, inv, s, t):
    """t = g y / s, what the transposed window sums in the backward pass."""
    np.multiply(gy, x, out=t)
    t *= inv
    t /= s


@_elementwise("tinynet_lrn_backward_out", "T gy, T inv, T x, T window, T coef", "T gx", """
    gx = gy * inv - window * x * coef;
""")
def lrn_backward_out(gy, inv, x, window, coef, gx):
    """dx = g s^-beta - coef x W^T(g y / s)."""
    np.multiply(gy, inv, out=gx)
    wx = window * x
    wx *= coef
    gx -= wx


# Dropout's mask, drawn where the data lives. Element i's uniform number is a hash of (seed, i)
# (SplitMix64, a counter-based generator): no generator state on the device, and the same seed
# gives the same mask on the CPU and on the GPU. The top 24 bits make a float in [0, 1).

@_elementwise("tinynet_dropout_mask", "uint64 seed, float64 p, T scale", "T mask", """
    unsigned long long z = seed + (unsigned long long)(i + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    mask = (double)(z >> 40) * (1.0 / 16777216.0) >= p ? scale : (T)0;
""")
def dropout_mask(seed, p, scale, mask):
    """mask_i = scale where u_i >= p, else 0, with u_i = SplitMix64(seed, i) in [0, 1)."""
    z = np.arange(1, mask.size + 1, dtype=np.uint64)
    z *= np.uint64(0x9E3779B97F4A7C15)
    z += np.uint64(seed)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    u = (z >> np.uint64(40)).astype(np.float64) * (1.0 / 16777216.0)
    mask[...] = np.where(u >= p, mask.dtype.type(scale), mask.dtype.type(0)).reshape(mask.shape)
