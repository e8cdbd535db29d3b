"""The IDX file format of MNIST and Fashion-MNIST (LeCun et al.).

Layout of an IDX file, all integers big-endian:

    bytes 0-1   0x00 0x00                      (magic, always zero)
    byte  2     element type code              (0x08 = uint8, ... see _DTYPES)
    byte  3     number of dimensions D
    4*D bytes   the size of each dimension     (uint32 each)
    the rest    the elements in C order

The official files are gzip-compressed (``*.gz``); `read_idx` accepts both forms.
"""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

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


def decode_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file into an array in native byte order.

    `source` names the file in error messages. Raises ValueError for a wrong magic number, an
    unknown type code, or a size that does not match the header (truncated or padded file).
    """
    if len(data) < 4:
        raise ValueError(f"{source}: only {len(data)} bytes, too short for an IDX header; "
                         "the file is truncated: delete it and get it again")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or code not in _DTYPES:
        codes = ", ".join(f"{c:02x}" for c in _DTYPES)
        raise ValueError(f"{source}: magic number {data[:4].hex()} is not an IDX header (expected "
                         f"0000, a type code in {codes}, the rank); not an IDX file (still "
                         "compressed? renamed?): get the official file again")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(f"{source}: header declares {ndim} dimensions but the file ends after "
                         f"{len(data)} bytes; the file is truncated: delete it and get it again")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = _DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header_len
    if found != expected:
        raise ValueError(f"{source}: header shape {shape} needs {expected} data bytes but the file "
                         f"holds {found}; the file is truncated or corrupt: delete it and get it again")
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


def read_bytes(path: str | Path) -> bytes:
    """The contents of `path`, gunzipped when the name ends in ``.gz``.

    A truncated or damaged gzip stream raises ValueError naming the file.
    """
    path = Path(path)
    data = path.read_bytes()
    if path.suffix != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: damaged gzip file ({err}); the download was probably cut short: "
                         "delete the file and get it again") from err


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (``.gz`` or uncompressed) into a NumPy array."""
    return decode_idx(read_bytes(path), source=str(path))
