"""tinynet.threads: the scoped thread count, BLAS threads set and restored, the default from
$TINYNET_THREADS, and parallel_map's order and errors. (That kernels give the same numbers on any
thread count is tested beside each kernel, in test_conv.py and test_pooling.py.)"""
import threading

import pytest

from tinynet import threads


@pytest.fixture
def blas():
    if threads.blas_threads() is None:
        pytest.skip("threadpoolctl finds no BLAS library in this NumPy")


def test_limit_sets_kernels_and_blas_and_restores_both(blas, monkeypatch):
    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    outer_blas = threads.blas_threads()
    assert threads.current() == threads.available_cores()
    with threads.limit(1) as n:
        assert n == 1 and threads.current() == 1 and threads.blas_threads() == 1
        with threads.limit(2):
            assert threads.current() == 2 and threads.blas_threads() == 2
        assert threads.current() == 1 and threads.blas_threads() == 1
    assert threads.current() == threads.available_cores() and threads.blas_threads() == outer_blas


def test_limit_is_restored_after_an_error(blas):
    before = (threads.current(), threads.blas_threads())
    with pytest.raises(KeyError):
        with threads.limit(1):
            raise KeyError("boom")
    assert (threads.current(), threads.blas_threads()) == before


def test_limit_belongs_to_the_thread_that_entered_it():
    seen = []
    with threads.limit(1):
        worker = threading.Thread(target=lambda: seen.append(threads.current()))
        worker.start()
        worker.join()
    assert seen == [threads.default_threads()]


@pytest.mark.parametrize("value, expected", [("1", 1), (" 3 ", 3), ("", None)])
def test_default_comes_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv(threads.ENV_VAR, value)
    assert threads.default_threads() == (expected or threads.available_cores())
    assert threads.current() == threads.default_threads()


@pytest.mark.parametrize("value, match", [("two", r"TINYNET_THREADS='two' is not a number"),
                                          ("0", r"TINYNET_THREADS=0 must be at least 1")])
def test_bad_environment_value_is_named(monkeypatch, value, match):
    monkeypatch.setenv(threads.ENV_VAR, value)
    with pytest.raises(ValueError, match=match):
        threads.current()


@pytest.mark.parametrize("value, err, match", [(0, ValueError, "threads=0 must be at least 1"),
                                               (1.5, TypeError, "threads must be a positive integer, got 1.5"),
                                               (True, TypeError, "got True")])
def test_bad_limit_is_named(value, err, match):
    with pytest.raises(err, match=match):
        with threads.limit(value):
            pass


@pytest.mark.parametrize("n", [1, 2, 3, 8])
def test_parallel_map_keeps_order(n):
    assert threads.parallel_map(lambda i: i * i, range(10), threads=n) == [i * i for i in range(10)]
    assert threads.parallel_map(lambda i: i, [], threads=n) == []


def test_parallel_map_uses_several_threads_and_holds_blas_to_one(blas):
    names, blas_seen = set(), set()
    both = threading.Barrier(2, timeout=10)  # the first two pieces wait for each other: two threads

    def work(i):
        names.add(threading.current_thread().name)
        blas_seen.add(threads.blas_threads())
        if i < 2:
            both.wait()
        return i

    with threads.limit(2):
        threads.parallel_map(work, range(8))
        assert threads.blas_threads() == 2
    assert len(names) == 2 and blas_seen == {1}


def test_a_waiting_thread_holds_up_one_piece_not_a_share():
    """Pieces go to whichever thread is free: while one thread is stuck on its piece, the other
    does all the rest."""
    stuck = threading.Event()
    done_by = {}

    def work(i):
        done_by[i] = threading.current_thread().name
        if i == 0:
            assert stuck.wait(timeout=10)
        elif len(done_by) == 8:
            stuck.set()
        return i

    assert threads.parallel_map(work, range(8), threads=2) == list(range(8))
    assert len({done_by[i] for i in range(1, 8)}) == 1 and done_by[0] not in {done_by[i] for i in range(1, 8)}


def test_parallel_map_passes_errors_on():
    def work(i):
        if i == 5:
            raise ValueError("piece 5")
        return i

    with pytest.raises(ValueError, match="piece 5"):
        threads.parallel_map(work, range(8), threads=2)


def test_the_demo_names_a_bad_environment_value_before_any_work(monkeypatch, capsys, tmp_path):
    from clr.lab import cli

    monkeypatch.setenv(threads.ENV_VAR, "many")
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--quick", "--out", str(tmp_path / "d")])
    assert info.value.code == 2
    assert "TINYNET_THREADS='many' is not a number of threads" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("shape", [(128, 784, 512), (512, 128, 784), (100, 1024, 10), (7, 5, 3)])
def test_matmul_pieces_give_the_bits_of_one_product(shape, monkeypatch):
    """Rows cut into pieces (forced small here) on 1 or 3 threads: the same bits either way (the cut
    depends on the shapes only), and the plain product's value (OpenBLAS may round a 13-row piece
    differently from a 100-row product, so not necessarily its bits)."""
    import numpy as np

    monkeypatch.setattr(threads, "_MIN_PRODUCT_PIECE", 16)
    monkeypatch.setattr(threads, "_MIN_PRODUCT_ROWS", 2)
    m, k, n = shape
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((n, k)).astype(np.float32).T
    with threads.limit(1):
        plain = a @ b
        one = threads.matmul(a, b)
    with threads.limit(3):
        three = threads.matmul(a, b)
    np.testing.assert_array_equal(three, one)
    np.testing.assert_allclose(one, plain, rtol=1e-5, atol=1e-4)
    v = rng.standard_normal(m).astype(np.float32)
    np.testing.assert_array_equal(threads.matmul(v, a), v @ a)


def test_matmul_keeps_blas_threads_asleep(blas, monkeypatch):
    """tinynet's products never call BLAS with more than one thread (OpenBLAS's idle threads would
    spin and take the cores that the kernels' pieces need)."""
    import numpy as np

    seen = []
    real = np.matmul

    def spy(*args, **kwargs):
        seen.append(threads.blas_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(np, "matmul", spy)
    a = np.ones((256, 512), np.float32)
    with threads.limit(2):
        threads.matmul(a, a.T)
        assert threads.blas_threads() == 2
    assert seen and set(seen) == {1}
