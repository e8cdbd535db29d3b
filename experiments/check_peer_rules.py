"""Check the comparators of peer_rules.py against the peers' own code (fastai, torch-lr-finder).

fastai's four suggestion functions are read out of its ``fastai/callback/schedule.py`` and run as
they are (importing fastai itself would pull in its whole stack), on the curves of a bounds-benchmark
cache (``--cache``) and on random curves, after ``lr_find``'s own trimming; torch-lr-finder's real
``LRFinder.range_test`` and ``plot(suggest_lr=True)`` run on a one-parameter model whose loss follows a
given sequence. Needs torch, torch-lr-finder (and its tqdm) and fastai's source file; none of them is a
dependency of tinynet or clr, so this is a script, not a test:

    pip download --no-deps fastai==2.7.18 torch-lr-finder==0.2.2 tqdm   # then unzip the wheels into DIR
    PYTHONPATH=DIR python experiments/check_peer_rules.py --fastai-source DIR/fastai/callback/schedule.py \\
        --cache docs/results/bounds/cells

It prints the number of curves on which each comparator differs from the peer (0 expected).
"""
from __future__ import annotations

import argparse
import ast
import glob
import json

import numpy as np

import peer_rules as peers

FASTAI_FUNCS = ("valley", "slide", "minimum", "steep")


def load_fastai_rules(path: str) -> dict:
    """fastai's suggestion functions, compiled from their source file, with the two names they use."""
    import torch

    def to_np(t):
        return t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)

    namespace = {"np": np, "torch": torch, "to_np": to_np}
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in FASTAI_FUNCS:
            exec(compile(ast.Module([node], []), path, "exec"), namespace)
    missing = [name for name in FASTAI_FUNCS if name not in namespace]
    if missing:
        raise ValueError(f"{path} defines no {missing}; pass fastai's fastai/callback/schedule.py")
    return {name: namespace[name] for name in FASTAI_FUNCS}


def fastai_lr_find(rules: dict, name: str, lrs, losses, num_it: int = 100):
    """What ``lr_find`` returns for one rule: its trimming and NaN cut, then the rule (or the error's name)."""
    import torch

    x, y = torch.tensor(lrs[num_it // 10:-5]), torch.tensor(losses[num_it // 10:-5])
    nan = torch.nonzero(torch.isnan(y.view(-1)))
    if len(nan) > 0:
        x, y = x[:int(nan.min())], y[:int(nan.min())]
    try:
        return float(rules[name](x, y, num_it)[0])
    except Exception as e:  # fastai crashes on some short curves; the comparator raises ValueError there
        return type(e).__name__


def curves(cache: str | None, rng, n_random: int = 200):
    out, seen = [], set()
    for path in sorted(glob.glob(f"{cache}/*/probe-*.json")) if cache else []:
        with open(path, encoding="utf-8") as f:
            rt = json.load(f)["range_test"]
        curve = (np.array(rt["lrs"]), np.array([np.nan if v is None else v for v in rt["smoothed_losses"]]))
        key = curve[1].tobytes()
        if key not in seen:  # probes of successive runs repeat the same sweep
            seen.add(key)
            out.append(curve)
    for _ in range(n_random):
        n = int(rng.integers(30, 101))
        loss = 2.3 - np.tanh(np.linspace(-3, rng.uniform(0, 3), n)) + 0.1 * rng.normal(0, rng.uniform(1e-3, 0.2), n).cumsum()
        out.append((np.logspace(-7, 1, 100)[:n], loss))
    return out


def check_fastai(path: str, cache: str | None, rng) -> dict:
    rules = load_fastai_rules(path)
    todo = curves(cache, rng)
    differ = dict.fromkeys(FASTAI_FUNCS, 0)
    for lrs, loss in todo:
        for name in FASTAI_FUNCS:
            theirs = fastai_lr_find(rules, name, lrs, loss)
            try:
                mine = peers.fastai_suggest(name, lrs, loss)
            except ValueError:
                mine = "IndexError"  # where fastai indexes past the curve
            same = theirs == mine if isinstance(theirs, str) or isinstance(mine, str) else \
                np.isclose(theirs, mine, rtol=1e-6)
            differ[name] += not same
    return {"curves": len(todo), "differ": differ}


def check_torch_lr_finder(rng, trials: int = 60) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from torch_lr_finder import LRFinder

    class OneParameter(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return self.p.expand(len(x))

    differ = 0
    n = 100
    for _ in range(trials):
        raw = 2.3 - np.tanh(np.linspace(-3, 3, n)) + rng.normal(0, rng.uniform(0.01, 0.3), n)
        raw[int(rng.integers(60, n)):] *= rng.uniform(1, 30)  # a blow-up somewhere near the end
        sequence = iter(raw.tolist())

        def criterion(out, y):
            return out.sum() * 0 + torch.tensor(next(sequence), dtype=torch.float64)

        model = OneParameter()
        finder = LRFinder(model, torch.optim.SGD(model.parameters(), lr=1e-7), criterion, device="cpu")
        data = torch.utils.data.TensorDataset(torch.zeros(n, 1), torch.zeros(n))
        finder.range_test(torch.utils.data.DataLoader(data, batch_size=1), end_lr=10, num_iter=n)
        history, lrs = np.array(finder.history["loss"]), np.array(finder.history["lr"])
        try:
            theirs = float(finder.plot(suggest_lr=True)[1])
        except Exception:
            theirs = None
        plt.close("all")
        try:
            mine = peers.tlf_steepest(np.r_[lrs, np.full(n - len(lrs), np.nan)], raw)
        except ValueError:
            mine = None
        same_history = len(history) == len(peers.tlf_history(raw)) and np.allclose(history, peers.tlf_history(raw))
        same = (theirs is None) == (mine is None) and (theirs is None or np.isclose(theirs, mine))
        differ += not (same_history and same)
    return {"sequences": trials, "differ": differ}


def main(argv=None):
    p = argparse.ArgumentParser(description="Check peer_rules.py against fastai's and torch-lr-finder's own code.")
    p.add_argument("--fastai-source", required=True, help="path to fastai's fastai/callback/schedule.py")
    p.add_argument("--cache", default=None, help="a bench_bounds cell cache whose range-test curves to use too")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    fastai = check_fastai(args.fastai_source, args.cache, rng)
    print(f"fastai: {fastai['curves']} curves; comparator differs on {fastai['differ']}")
    tlf = check_torch_lr_finder(rng)
    print(f"torch-lr-finder: {tlf['sequences']} loss sequences; history or suggestion differs on {tlf['differ']}")
    return fastai, tlf


if __name__ == "__main__":
    main()
