"""Generate tinynet/data/_embedded/mnist1d_default.npz, the MNIST-1D copy shipped with tinynet.

    python experiments/make_embedded_mnist1d.py          # write the file, compare with the recorded hash
    python experiments/make_embedded_mnist1d.py --check  # only compare, write nothing

Runs the `mnist1d` package offline with its default arguments (tinynet.data.mnist1d.DEFAULT_ARGS:
5000 samples, 4000 train / 1000 test, length 40, seed 42), casts x to float32 and y to int64, and
writes the four arrays into a compressed .npz atomically (temporary file + os.replace). Prints the
content sha256, which must equal EMBEDDED_SHA256 in tinynet/data/mnist1d.py.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


import numpy as np

from tinynet.data import mnist1d


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; do not write the file")
    parser.add_argument("--out", type=Path, default=mnist1d.EMBEDDED, help="output .npz")
    opts = parser.parse_args(argv)

    split = mnist1d.generate_mnist1d(**mnist1d.DEFAULT_ARGS)
    arrays = {key: getattr(split, key) for key in mnist1d.KEYS}
    digest = mnist1d.content_sha256(arrays)
    print(f"generated: {split}")
    print(f"content sha256: {digest}")

    if not opts.check:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=opts.out.parent, prefix=".mnist1d.", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, **arrays)
            os.chmod(tmp, 0o644)  # mkstemp makes it private; this file is shipped
            os.replace(tmp, opts.out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        print(f"wrote {opts.out} ({opts.out.stat().st_size} bytes)")

    if digest != mnist1d.EMBEDDED_SHA256:
        print(f"MISMATCH: tinynet/data/mnist1d.py records EMBEDDED_SHA256 = "
              f"{mnist1d.EMBEDDED_SHA256!r}; update it to {digest!r}")
        return 1
    print("matches EMBEDDED_SHA256 in tinynet/data/mnist1d.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
