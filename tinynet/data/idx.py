"""The IDX file format of MNIST and Fashion-MNIST (LeCun et al.).

Layout of an IDX file, all integers big-endian:

    bytes 0-1   0x00 0x00                      (magic, always zero)
    byte  2     element type code              (0x08 = uint8, ... see _DTYPES)
    byte  3     number of dimensions D
    4*D bytes   the size of each dimension     (uint32 each)
    the rest    the elements in C order

The official files are gzip-compressed (``*.gz``); `read_idx` accepts both forms, and reads the
header before anything else so that the declared size is checked before it is allocated.
"""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..safe_open import open_regular
from .download import MAX_BYTES, check_md5, md5_bytes

_CHUNK = 1 << 20

# element type code -> big-endian dtype (the format stores every number big-endian)
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _DTYPES.items()}


# NumPy 1 allows 32 dimensions (NumPy 2: 64); the official files have 1 or 3
MAX_DIMS = 32


def _parse_magic(head: bytes, source: str) -> tuple[np.dtype, int]:
    """(big-endian dtype, number of dimensions) from the first 4 bytes of an IDX file."""
    if len(head) < 4:
        raise ValueError(f"{source}: only {len(head)} bytes, too short for an IDX header; "
                         "the file is truncated: delete it and get it again")
    zero0, zero1, code, ndim = head[0], head[1], head[2], head[3]
    if zero0 != 0 or zero1 != 0 or code not in _DTYPES:
        codes = ", ".join(f"{c:02x}" for c in _DTYPES)
        raise ValueError(f"{source}: magic number {head[:4].hex()} is not an IDX header (expected "
                         f"0000, a type code in {codes}, the rank); not an IDX file (still "
                         "compressed? renamed?): get the official file again")
    if ndim > MAX_DIMS:
        raise ValueError(f"{source}: header declares {ndim} dimensions, more than the {MAX_DIMS} "
                         "an array may have; the file is corrupt: delete it and get it again")
    return _DTYPES[code], ndim


def _parse_shape(dims: bytes, ndim: int, source: str) -> tuple[int, ...]:
    """The shape from the 4 * ndim bytes that follow the magic number."""
    if len(dims) < 4 * ndim:
        raise ValueError(f"{source}: header declares {ndim} dimensions but the file ends after "
                         f"{4 + len(dims)} bytes; the file is truncated: delete it and get it again")
    return struct.unpack(f">{ndim}I", dims)


def _data_bytes(dtype: np.dtype, shape: tuple[int, ...]) -> int:
    return math.prod(shape) * dtype.itemsize  # Python ints: no overflow for any header


def _size_error(source: str, shape, expected: int, found: int | str) -> ValueError:
    return ValueError(f"{source}: header shape {shape} needs {expected} data bytes but the file "
                      f"holds {found}; the file is truncated or corrupt: delete it and get it again")


def decode_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file into an array in native byte order.

    `source` names the file in error messages. Raises ValueError for a wrong magic number, an
    unknown type code, too many dimensions, or a size that does not match the header (truncated
    or padded file). To read a file, use `read_idx`, which checks the size before reading.
    """
    dtype, ndim = _parse_magic(data[:4], source)
    shape = _parse_shape(data[4:4 + 4 * ndim], ndim, source)
    header_len = 4 + 4 * ndim
    expected, found = _data_bytes(dtype, shape), len(data) - header_len
    if found != expected:
        raise _size_error(source, shape, expected, found)
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # native order, and a writable copy


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of `array` (uncompressed); the inverse of `decode_idx`."""
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"encode_idx: dtype {array.dtype} has no IDX type code; "
                        f"use one of {sorted(str(d) for d in _CODES)}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()


def read_idx(path: str | Path, max_bytes: int = MAX_BYTES, md5: str | None = None) -> np.ndarray:
    """Read an IDX file (``.gz`` or uncompressed) into an array in native byte order, streaming.

    The header is read first, and the size it declares must be at most `max_bytes` (default
    `MAX_BYTES`, 1 GiB; pass more for a larger file you trust) before any memory is allocated or
    any more is inflated; then exactly that many bytes are read, so a small ``.gz`` cannot inflate
    into a large allocation. `md5`, when given, is the official md5 of the uncompressed contents,
    checked before the array is returned. Every failure
    (not a regular file, damaged gzip stream, wrong header, size or md5) is a ValueError naming
    the file; a missing file a FileNotFoundError.
    """
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 0:
        raise TypeError(f"read_idx: max_bytes must be a non-negative int, got {max_bytes!r}")
    path, source = Path(path), str(path)
    with open_regular(path, "read_idx") as raw:
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if path.suffix == ".gz" else raw
        try:
            head = _read_upto(stream, 4)
            dtype, ndim = _parse_magic(head, source)
            head += _read_upto(stream, 4 * ndim)
            shape = _parse_shape(head[4:], ndim, source)
            expected = _data_bytes(dtype, shape)
            if expected > max_bytes:
                raise ValueError(f"{source}: header shape {shape} of {dtype.newbyteorder('=')} declares "
                                 f"{expected} bytes, more than max_bytes={max_bytes}; a damaged or "
                                 "hostile file? If you trust it, pass a larger max_bytes")
            data = bytearray(expected)
            found = _read_into(stream, memoryview(data))
            if found != expected:
                raise _size_error(source, shape, expected, found)
            if stream.read(1):
                raise _size_error(source, shape, expected, f"more than {expected}")
        except (EOFError, OSError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
            raise ValueError(f"{source}: damaged gzip file ({err}); the download was probably cut "
                             "short: delete the file and get it again") from err
    if md5 is not None:
        check_md5(md5_bytes(head, data), md5, source, "the decompressed contents",
                  "Delete it and get it again (e.g. with download=True), or pass verify=False "
                  "if it is deliberately not the official file.")
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)  # native order (uint8: no copy)


def _read_upto(stream, n: int) -> bytes:
    """Up to `n` bytes (fewer only at the end of the stream)."""
    buffer = bytearray(n)
    return bytes(buffer[:_read_into(stream, memoryview(buffer))])


def _read_into(stream, buffer: memoryview) -> int:
    """Fill `buffer` from `stream` in chunks; the number of bytes read (less only at the end)."""
    filled = 0
    while filled < len(buffer):
        n = stream.readinto(buffer[filled:filled + _CHUNK])
        if not n:
            break
        filled += n
    return filled
