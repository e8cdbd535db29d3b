"""How many threads tinynet's kernels and the BLAS under NumPy may use.

    import tinynet
    with tinynet.threads.limit(1):      # this block: kernels and BLAS on one thread
        train(...)
    TINYNET_THREADS=2 python train.py   # a process's default (else: every core it may run on)

The conv and pooling kernels split their work (column blocks and their matrix products,
pooling planes, the input gradient) into pieces of a fixed size and, when more than one
thread is allowed, run the pieces on that many threads: NumPy releases the GIL inside its
loops and BLAS calls, so the threads really run side by side. The layers' other products
(``linear``) go through ``matmul`` below, which cuts them by rows the same way. While pieces
run, BLAS is held to one thread: each piece is one thread's work, and OpenBLAS's own threads,
once woken, spin for a while after each call and take the cores the next pieces need. BLAS's
own threads (``limit`` sets them too) serve NumPy code outside tinynet's layers.

The kernels' results do not depend on the thread count: the pieces are cut the same way
whatever it is, and partial sums are added in piece order (``parallel_map`` returns results in
order). NumPy's BLAS is another matter: OpenBLAS splits some products differently on more threads
and rounds differently (a (128, 784) x (784, 512) float32 product does), so a model with large
linear layers gives bit-identical runs only with the same thread count per training, which is what
``clr.lab.grid.run_grid`` keeps (``cores // workers`` per cell).

The setting is not a global: ``limit(n)`` holds it for the ``with`` block of the thread (or
asyncio task) that entered it, through a ``contextvars.ContextVar``, and puts BLAS back as it
was on exit. Several trainings side by side (one per process, e.g. ``clr.lab.grid.run_grid``)
each take ``limit(cores // trainings)``, so that together they never ask for more threads than
there are cores; oversubscribed OpenBLAS threads spin and made steps 8-20x slower.
"""
from __future__ import annotations

import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")

ENV_VAR = "TINYNET_THREADS"

# the count set by the innermost ``limit`` block of this thread/task; None: the default
_limit: contextvars.ContextVar[int | None] = contextvars.ContextVar("tinynet_threads", default=None)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def check_threads(value, name: str = "threads") -> int:
    """``value`` as a positive int, else TypeError/ValueError naming ``name``."""
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ValueError(f"{name}={value!r} is not a number of threads; give a positive integer "
                             "such as 1 or 2") from None
    if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be a positive integer, got {value!r} of type {type(value).__name__}")
    value = int(value)
    if value < 1:
        raise ValueError(f"{name}={value} must be at least 1")
    return value


def default_threads() -> int:
    """``$TINYNET_THREADS`` when set, else ``available_cores()``."""
    text = os.environ.get(ENV_VAR)
    if text is None or not text.strip():
        return available_cores()
    return check_threads(text, name=ENV_VAR)


def current() -> int:
    """The thread count in force here: the innermost ``limit`` block's, else ``default_threads()``."""
    n = _limit.get()
    return default_threads() if n is None else n


# ----------------------------------------------------------------------------- BLAS threads
class _Blas:
    """threadpoolctl's handles on the BLAS libraries loaded in this process, found once (the scan is
    slow); NumPy's BLAS is loaded when this module is, so later imports add none that NumPy uses."""

    _lock = threading.Lock()
    _libraries = None

    @classmethod
    def libraries(cls) -> list:
        if cls._libraries is None:
            with cls._lock:
                if cls._libraries is None:
                    import numpy  # noqa: F401  (loads NumPy's BLAS, so the scan finds it)
                    from threadpoolctl import ThreadpoolController

                    cls._libraries = [lib for lib in ThreadpoolController().lib_controllers
                                      if lib.user_api == "blas"]
        return cls._libraries


def blas_threads() -> int | None:
    """The thread count of NumPy's BLAS now (None when threadpoolctl finds no BLAS)."""
    libs = _Blas.libraries()
    return libs[0].get_num_threads() if libs else None


def _set_blas(n: int) -> list:
    """Set every BLAS library to ``n`` threads; returns what to restore (an empty list: nothing changed).

    Talks to the libraries directly (about 1 us) rather than through ``threadpoolctl.threadpool_limits``
    (about 80 us, too slow around every kernel call).
    """
    before = []
    for lib in _Blas.libraries():
        k = lib.get_num_threads()
        if k != n:
            lib.set_num_threads(n)
            before.append((lib, k))
    return before


def _restore_blas(before: list) -> None:
    for lib, k in before:
        lib.set_num_threads(k)


@contextmanager
def _blas_limited(n: int) -> Iterator[None]:
    """BLAS on ``n`` threads inside the block, as before afterwards (process-wide while it lasts)."""
    before = _set_blas(n)
    try:
        yield
    finally:
        _restore_blas(before)


@contextmanager
def limit(n: int) -> Iterator[int]:
    """Inside the block, tinynet's kernels use ``n`` threads and NumPy's BLAS ``n`` threads.

    Nested blocks apply the innermost count; leaving a block restores the outer one. BLAS's
    count is process-wide (a property of the library, not of a Python thread): do not run
    ``limit`` blocks with different counts in several threads of one process at once.
    """
    n = check_threads(n, name="threads")
    token = _limit.set(n)
    try:
        with _blas_limited(n):
            yield n
    finally:
        _limit.reset(token)


# ----------------------------------------------------------------------------- parallel pieces
class _Pools:
    """Worker threads kept between calls (starting threads for every kernel call costs more than
    small kernels take). A cache of idle workers, not a setting: the count comes from ``current()``."""

    _lock = threading.Lock()
    _by_size: dict[int, ThreadPoolExecutor] = {}

    @classmethod
    def get(cls, n: int) -> ThreadPoolExecutor:
        with cls._lock:
            pool = cls._by_size.get(n)
            if pool is None:
                pool = cls._by_size[n] = ThreadPoolExecutor(n - 1, thread_name_prefix=f"tinynet{n}")
            return pool

    @classmethod
    def forget(cls) -> None:
        """After fork: the child has none of the parent's worker threads."""
        cls._lock = threading.Lock()
        cls._by_size = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_Pools.forget)


def parallel_map(fn: Callable[[T], R], items: Iterable[T], threads: int | None = None) -> list[R]:
    """``[fn(item) for item in items]``, spread over ``threads`` threads (default ``current()``).

    The calling thread works too, and every thread takes the next piece not yet taken, so a
    thread that the machine leaves waiting (others' processes on the cores) holds up one piece,
    not a fixed share. BLAS is held to one thread while the pieces run, even when they run on one
    thread: a piece is one thread's work, and work too small to cut in two is too small for BLAS
    threads too (two OpenBLAS threads made the MNIST-1D CNN's conv1d step 5x slower on a busy
    machine: 10 ms instead of 2). ``fn`` must only write to memory no other piece writes (each
    piece its own output rows). The results come back in the order of ``items``.
    """
    items = list(items)
    n = min(current() if threads is None else threads, len(items))
    before = _set_blas(1)  # inline rather than a with block: this runs around every kernel call
    try:
        if n <= 1:
            return [fn(item) for item in items]
        results: list = [None] * len(items)
        order, lock = iter(range(len(items))), threading.Lock()

        def drain():
            while True:
                with lock:
                    i = next(order, None)
                if i is None:
                    return
                results[i] = fn(items[i])

        helpers = [_Pools.get(n).submit(drain) for _ in range(n - 1)]
        try:
            drain()
        finally:  # never return (or raise) while a helper still writes
            errors = [f.exception() for f in helpers]
        for error in errors:
            if error is not None:
                raise error
        return results
    finally:
        _restore_blas(before)


# products split by rows: at least 2^24 multiply-adds and 64 rows a piece, at most 8 pieces. Each
# cut costs the one-thread case 5-10 % (smaller products run slower: the MLP's (128, 784) x
# (784, 512) takes 0.84 ms whole, 0.90 ms in two pieces and 1.21 ms in four), so pieces stay big
_MIN_PRODUCT_PIECE = 1 << 24
_MIN_PRODUCT_ROWS = 64
_MAX_PRODUCT_PIECES = 8


def matmul(a, b):
    """``a @ b`` for a NumPy matrix ``a``: its rows cut into pieces that the allowed threads share,
    BLAS on one thread in each. What tinynet's layers use for their products.

    Why not BLAS's own threads: after a multi-threaded call OpenBLAS's threads spin for a while,
    waiting for more, and take the cores that tinynet's conv and pooling pieces need next (a
    cifar10_full step took twice the CPU time, 310 ms instead of 160, with no gain in wall time).
    The rows are cut by the shapes alone, so any thread count gives the same bits (not always the
    bits of one unsplit product: OpenBLAS may round a small piece differently). Other operands
    (a vector, a batch of matrices, CuPy arrays) are one piece; CuPy's go straight to the device.
    """
    import numpy as np

    if not isinstance(a, np.ndarray):
        return a @ b
    if a.ndim != 2 or b.ndim != 2:
        return parallel_map(lambda _: a @ b, [None], threads=1)[0]
    rows = a.shape[0]
    count = min(_MAX_PRODUCT_PIECES, rows // _MIN_PRODUCT_ROWS, rows * a.shape[1] * b.shape[1] // _MIN_PRODUCT_PIECE)
    if count <= 1:
        return parallel_map(lambda _: a @ b, [None], threads=1)[0]
    out = np.empty((rows, b.shape[1]), dtype=np.result_type(a, b))
    step = -(-rows // count)

    def piece(r0):
        np.matmul(a[r0:r0 + step], b, out=out[r0:r0 + step])

    parallel_map(piece, range(0, rows, step))
    return out

