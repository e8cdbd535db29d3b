"""Illustrative LR range-test plots for docs/range_test.md, from a small pure-NumPy problem.

A 2-32-32-3 ReLU network (hand-written backprop, SGD with momentum 0.9) classifies three
interleaved 2-D spirals. It needs no framework, runs in a few seconds on a CPU, and shows the
shapes the docs explain: an exponential sweep (fastai style), a linear sweep with validation
accuracy (Smith's), and a weight-decay comparison (Smith 2018).

    python experiments/plot_range_test_example.py [--out docs/img] [--seed 0]
"""
from __future__ import annotations

import argparse
import os

import numpy as np


from clr.plots import plot_multi_range_test, plot_range_test
from clr.range_test import multi_range_test, run_range_test


def spirals(n_per_class: int, rng: np.random.Generator, turns: float = 0.75, noise: float = 0.2):
    """Three interleaved spirals: x (3n, 2) float64, y (3n,) int64 in 0..2."""
    t = np.sqrt(rng.uniform(0, 1, n_per_class)) * turns * 2 * np.pi
    xs, ys = [], []
    for k in range(3):
        angle = t + 2 * np.pi * k / 3
        pts = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) / (turns * 2 * np.pi)
        xs.append(pts + noise * rng.normal(size=pts.shape) / 3)
        ys.append(np.full(n_per_class, k))
    x, y = np.concatenate(xs), np.concatenate(ys)
    order = rng.permutation(len(y))
    return x[order], y[order]


class NumpyMLP:
    """2 -> 32 -> 32 -> 3 ReLU network trained with SGD + momentum + L2 weight decay (a trainer)."""

    def __init__(self, rng: np.random.Generator, momentum=0.9, weight_decay=0.0, width=32):
        sizes = [2, width, width, 3]
        self.params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            self.params += [rng.normal(0, np.sqrt(2 / fan_in), (fan_in, fan_out)), np.zeros(fan_out)]
        self.velocity = [np.zeros_like(p) for p in self.params]
        self.lr, self.momentum, self.weight_decay = 0.0, momentum, weight_decay

    def _forward(self, x):
        acts = [x]
        for i in range(0, len(self.params), 2):
            z = acts[-1] @ self.params[i] + self.params[i + 1]
            acts.append(np.maximum(z, 0) if i + 2 < len(self.params) else z)
        return acts

    @staticmethod
    def _loss(logits, y):
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -log_p[np.arange(len(y)), y].mean(), log_p

    def set_lr(self, lr):
        self.lr = lr

    def set_hyperparam(self, name, value):
        setattr(self, name, value)

    def train_step(self, batch):
        x, y = batch
        acts = self._forward(x)
        loss, log_p = self._loss(acts[-1], y)
        if np.isfinite(loss):
            grad = np.exp(log_p)
            grad[np.arange(len(y)), y] -= 1
            grad /= len(y)
            grads = [None] * len(self.params)
            for i in range(len(self.params) - 2, -1, -2):
                grads[i], grads[i + 1] = acts[i // 2].T @ grad, grad.sum(axis=0)
                if i:
                    grad = (grad @ self.params[i].T) * (acts[i // 2] > 0)
            for p, v, g in zip(self.params, self.velocity, grads):
                v *= self.momentum
                v += g + self.weight_decay * p
                p -= self.lr * v
        return float(loss), int(np.sum(acts[-1].argmax(axis=1) == y)), len(y)

    def evaluate(self, batches):
        losses, correct, n = [], 0, 0
        for x, y in batches:
            logits = self._forward(x)[-1]
            losses.append(self._loss(logits, y)[0] * len(y))
            correct += int(np.sum(logits.argmax(axis=1) == y))
            n += len(y)
        return float(np.sum(losses) / n), correct / n

    def snapshot(self):
        return ([p.copy() for p in self.params], [v.copy() for v in self.velocity], self.momentum,
                self.weight_decay)

    def restore(self, state):
        params, velocity, self.momentum, self.weight_decay = state
        self.params = [p.copy() for p in params]
        self.velocity = [v.copy() for v in velocity]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("docs", "img"), help="folder for the PNGs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    rng = np.random.default_rng(args.seed)
    x, y = spirals(1000, rng)
    x_train, y_train, x_val, y_val = x[:2400], y[:2400], x[2400:], y[2400:]
    train = [(x_train[i:i + 32], y_train[i:i + 32]) for i in range(0, len(y_train), 32)]
    val = [(x_val, y_val)]
    model = NumpyMLP(np.random.default_rng(args.seed + 1))

    exp = run_range_test(model, train, start_lr=1e-4, end_lr=100.0, num_iter=300, step_mode="exp")
    print("exp sweep:", exp, "|", exp.suggest("valley"), exp.suggest("steepest"), exp.suggest("minimum"))
    plot_range_test(exp, os.path.join(args.out, "range_test_exp_example.png"),
                    suggestions=["valley", "steepest", "minimum"])

    linear = run_range_test(model, train, start_lr=0.0, end_lr=1.0, num_iter=600, step_mode="linear",
                            val_loader=val, val_every=10)
    print("linear sweep:", linear, "|", linear.suggest("accuracy"))
    plot_range_test(linear, os.path.join(args.out, "range_test_linear_example.png"), suggestions=["accuracy"])

    wd = multi_range_test(model, [0.0, 1e-3, 1e-2, 3e-2], train, hyperparam="weight_decay", start_lr=1e-3,
                          end_lr=100.0, num_iter=300, step_mode="exp")
    for value, result in wd.items():
        print(f"weight_decay={value:g}:", result)
    plot_multi_range_test(wd, os.path.join(args.out, "range_test_weight_decay_example.png"))


if __name__ == "__main__":
    main()
