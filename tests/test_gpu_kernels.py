"""The fused CUDA kernels in tinynet.backend agree with the NumPy references beside them.

Without a GPU the CUDA sources never run, so they are checked here in two ways: each kernel body is
compiled as plain C++ (g++, one loop over the elements, float and double for ``T``) and run on
random inputs against its NumPy reference; and where ``nvcc`` is on the PATH, each body is compiled
to PTX inside a ``__global__`` function, which catches what only the CUDA compiler rejects. On a
machine with CuPy and a GPU, the last test runs the real ElementwiseKernel against the reference.
"""
import shutil
import subprocess

import numpy as np
import pytest

from tinynet import backend

C_TYPES = {"float32": "float", "float64": "double", "bool": "bool", "uint64": "unsigned long long",
           "int64": "long long"}
ARRAYS = {"g", "x", "window", "gy", "inv", "s"}  # inputs passed as arrays (the rest are scalars)
POSITIVE = {"window", "inv", "s", "v", "a"}  # second moments, window sums of squares: >= 0
INTS = {"length": 10, "inner": 4, "before": 1, "after": 2}  # window_sum over an axis of 10, stride 4


def _params(spec):
    """[(raw, type, name), ...] from CuPy's 'raw T x, T g, bool nesterov, ...'."""
    out = []
    for p in spec.split(","):
        words = p.split()
        if words:
            out.append((words[0] == "raw", *words[-2:]))
    return out


def _ctype(kind, dtype):
    return C_TYPES[dtype] if kind == "T" else C_TYPES[kind]


def _c_source(kernel, dtype, device):
    """A function applying ``kernel.cuda`` to element i of every argument array."""
    ins, outs = _params(kernel.in_params), _params(kernel.out_params)
    args = [f"{'const ' if (r, k, n) in ins else ''}{_ctype(k, dtype)}* {n}_" for r, k, n in ins + outs]
    loads = "".join(f"const {_ctype(k, dtype)}* {n} = {n}_;" if r else f"const {_ctype(k, dtype)} {n} = {n}_[i];"
                    for r, k, n in ins)
    refs = "".join(f"{_ctype(k, dtype)}& {n} = {n}_[i];" for r, k, n in outs)
    head = f"typedef {C_TYPES[dtype]} T;\n"
    if device:
        return (head + f'extern "C" __global__ void k(long long size_, {", ".join(args)}) {{\n'
                f"long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; if (i >= size_) return;\n"
                f"{loads}{refs}\n{kernel.cuda}\n}}\n")
    return ("#include <cmath>\nusing std::sqrt;\n" + head +
            f'extern "C" void k(long long size_, {", ".join(args)}) {{\n'
            f"for (long long i = 0; i < size_; ++i) {{ {loads}{refs}\n{kernel.cuda}\n}}\n}}\n")


def _inputs(name, dtype, n, rng):
    """Arguments for kernel ``name``: arrays and scalars in range for it."""
    k = backend.KERNELS[name]
    ins, outs = _params(k.in_params), _params(k.out_params)
    values = []
    for _, kind, pname in ins + outs:
        if kind == "bool":
            values.append(bool(rng.integers(2)))
        elif kind == "uint64":
            values.append(int(rng.integers(0, 2 ** 63)))
        elif kind == "int64":
            values.append(INTS[pname])
        elif pname in ARRAYS or (_, kind, pname) in outs:
            a = rng.standard_normal(n).astype(dtype)
            values.append(np.abs(a) + 0.1 if pname in POSITIVE else a)
        else:  # a coefficient in (0, 1): lr, momentum, betas, eps, p, sqrt of a bias correction ...
            values.append(float(rng.uniform(0.05, 0.95)))
    return values


@pytest.fixture(scope="module")
def host_build(tmp_path_factory):
    if shutil.which("g++") is None:
        pytest.skip("needs g++ to compile the kernel bodies on the host")
    import ctypes

    folder = tmp_path_factory.mktemp("kernels")

    def build(name, dtype):
        src = folder / f"{name}_{dtype}.cpp"
        lib = folder / f"{name}_{dtype}.so"
        src.write_text(_c_source(backend.KERNELS[name], dtype, device=False))
        subprocess.run(["g++", "-O1", "-ffp-contract=off", "-shared", "-fPIC", str(src), "-o", str(lib)],
                       check=True, capture_output=True)
        return ctypes.CDLL(str(lib)).k
    return build


def _run_host(fn, kernel, dtype, args, n):
    import ctypes

    ins, outs = _params(kernel.in_params), _params(kernel.out_params)
    arrays = []
    for (_, kind, _), value in zip(ins + outs, args):
        ct = dtype if kind == "T" else {"bool": np.bool_, "uint64": np.uint64, "float64": np.float64,
                                        "int64": np.int64}[kind]
        arrays.append(np.ascontiguousarray(np.broadcast_to(np.asarray(value, dtype=ct), (n,))).copy())
    fn(ctypes.c_longlong(n), *[a.ctypes.data_as(ctypes.c_void_p) for a in arrays])
    return arrays[len(ins):]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(backend.KERNELS))
def test_cuda_source_computes_what_the_numpy_reference_computes(host_build, name, dtype):
    kernel, n = backend.KERNELS[name], 1000
    args = _inputs(name, np.dtype(dtype), n, np.random.default_rng(0))
    n_in = len(_params(kernel.in_params))
    ref_outs = [a.copy() for a in args[n_in:]]
    kernel.reference(*args[:n_in], *ref_outs)
    c_outs = _run_host(host_build(name, dtype), kernel, np.dtype(dtype), args, n)
    for r, c in zip(ref_outs, c_outs):
        assert np.all(np.isfinite(r))
        np.testing.assert_allclose(c, r, rtol=2e-6 if dtype == "float32" else 1e-14, atol=0)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc to compile CUDA (no GPU needed)")
@pytest.mark.parametrize("name", sorted(backend.KERNELS))
def test_cuda_source_compiles_with_nvcc(tmp_path, name):
    for dtype in ("float32", "float64"):
        src = tmp_path / f"{name}_{dtype}.cu"
        src.write_text(_c_source(backend.KERNELS[name], dtype, device=True))
        done = subprocess.run(["nvcc", "-ptx", str(src), "-o", str(tmp_path / "k.ptx")], capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr


def test_dropout_mask_keeps_a_fraction_one_minus_p_and_depends_on_the_seed():
    a, b, c = (np.empty(100_000, np.float32) for _ in range(3))
    backend.dropout_mask(1, 0.3, 1 / 0.7, a)
    backend.dropout_mask(1, 0.3, 1 / 0.7, b)
    backend.dropout_mask(2, 0.3, 1 / 0.7, c)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0, np.float32(1 / 0.7)}
    assert abs((a > 0).mean() - 0.7) < 0.01 and (a != c).any()


@pytest.mark.gpu
@pytest.mark.skipif(not backend.cuda_available(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(backend.KERNELS))
def test_real_kernel_matches_the_reference_on_a_gpu(name, dtype):
    kernel, n = backend.KERNELS[name], 1000
    args = _inputs(name, np.dtype(dtype), n, np.random.default_rng(0))
    n_in = len(_params(kernel.in_params))
    ref_outs = [a.copy() for a in args[n_in:]]
    kernel.reference(*args[:n_in], *ref_outs)
    dev = [backend.to_device(a, "cuda") if isinstance(a, np.ndarray) else a for a in args]
    backend.launch(name, *dev)
    for r, d in zip(ref_outs, dev[n_in:]):  # FMA contraction on the GPU may change the last bits
        np.testing.assert_allclose(backend.to_numpy(d), r, rtol=1e-5 if dtype == "float32" else 1e-12)
