"""The tasks of the bounds benchmark (experiments/bench_bounds.py): data, model, optimizer, budget.

Each :class:`Task` is one small training problem, chosen to vary what a bounds finder must cope with:
the model (logistic regression, plain and residual MLPs, 1-D and 2-D CNNs with and without batch
norm), the data (MNIST-1D, a Fashion-MNIST subset, synthetic problems, one regression), the optimizer
(SGD with momentum in the PyTorch and the Caffe form, Nesterov, Adam, RMSprop, Adagrad) and the batch
size (8 to 512). Every task is sized so that one training takes about a second on one core.

Every split is fixed (its own data seed, independent of the run's seed); a run's ``seed`` draws the
initial weights and the order of the batches, nothing else. The training set loses its last 10 % to a
validation split, which only the bounds finder sees (``val_loader``); scores are on the test split.

Scores play the role of accuracy: test accuracy for classification, R^2 = 1 - MSE / Var(y) on the test
set for the regression task. Both are fractions where 1 is perfect; chance is the majority-class share
(classification) or 0 (regression: predicting the mean).

    task = TASKS_BY_NAME["m1d_resmlp_adam"]
    history = train_run(task, seed=0, policy=clr.policies.Fixed(1e-3), iterations=task.iterations)
"""
from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import numpy as np

import tinynet as tn
import tinynet.functional as F
from clr.lab import models as zoo
from clr.schedulers import PolicyScheduler
from tinynet import nn
from tinynet.data import ArrayDataset, DataLoader, load_fashion_mnist, load_mnist1d
from tinynet.nn import init

VAL_FRACTION = 0.1   # of the training set, held out for the finder's val_loader
EVAL_POINTS = 20     # test-set evaluations per training (plus one before it)


@dataclass(frozen=True)
class Task:
    """One benchmark task. ``model`` and ``optimizer`` name entries of MODELS and OPTIMIZERS below."""
    name: str
    data: str            # key of DATASETS
    model: str           # key of MODELS
    optimizer: str       # key of OPTIMIZERS
    batch_size: int
    iterations: int      # the training budget, the same for every schedule of this task
    description: str

    @property
    def regression(self) -> bool:
        return self.data == "regression"

    @property
    def eval_every(self) -> int:
        return max(1, self.iterations // EVAL_POINTS)

    def to_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------- data

@dataclass(frozen=True)
class Data:
    """Train / validation / test arrays of one task; ``chance`` is the score of a constant guess."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    chance: float
    classes: int  # 0 for regression


def _split(x, y, x_test, y_test, regression=False) -> Data:
    """Hold out the last VAL_FRACTION of the (already shuffled) training set as validation."""
    n_val = int(round(VAL_FRACTION * len(x)))
    if regression:
        chance, classes = 0.0, 0
    else:
        classes = int(max(y.max(), y_test.max()) + 1)
        chance = float(np.bincount(y_test, minlength=classes).max() / len(y_test))
    return Data(x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:], x_test, y_test, chance, classes)


def _mnist1d() -> Data:
    """The embedded MNIST-1D (4,000 train / 1,000 test signals of length 40, 10 classes)."""
    s = load_mnist1d()
    order = np.random.default_rng(1001).permutation(len(s.x_train))
    return _split(s.x_train[order], s.y_train[order], s.x_test, s.y_test)


def _fashion(n_train=10_000, n_test=2_000) -> Data:
    """A Fashion-MNIST subset, images averaged down to 14 x 14 and standardised: (N, 1, 14, 14).

    The first ``n_train`` training images of a fixed permutation and the first ``n_test`` test images.
    """
    s = load_fashion_mnist()
    order = np.random.default_rng(1002).permutation(len(s.x_train))[:n_train]

    def prep(x):
        x = x.astype(np.float32).reshape(len(x), 1, 14, 2, 14, 2).mean(axis=(3, 5)) / 255.0
        return x

    x, x_test = prep(s.x_train[order]), prep(s.x_test[:n_test])
    mean, std = float(x.mean()), float(x.std())
    return _split((x - mean) / std, s.y_train[order], (x_test - mean) / std, s.y_test[:n_test])


def _spirals(n_train=2_000, n_test=1_000, arms=3, noise=0.25) -> Data:
    """Three interleaved 2-D spirals (one per class), Gaussian noise of std ``noise``."""
    rng = np.random.default_rng(1003)

    def draw(n):
        y = rng.integers(0, arms, n)
        r = rng.uniform(0.2, 1.0, n)
        angle = 2 * np.pi * (y / arms + 1.25 * r)
        x = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1) * 2.0
        x += noise * rng.standard_normal((n, 2)) * r[:, None]
        return x.astype(np.float32), y.astype(np.int64)

    return _split(*draw(n_train), *draw(n_test))


def _teacher(n_train=4_000, n_test=1_000, dim=20, hidden=32, classes=4, label_noise=0.05) -> Data:
    """Gaussian inputs in 20-D labelled by a random tanh network 20 -> 32 -> 4; 5 % of labels resampled."""
    rng = np.random.default_rng(1004)
    w1 = rng.standard_normal((dim, hidden)) / math.sqrt(dim)
    w2 = rng.standard_normal((hidden, classes)) * 2.0 / math.sqrt(hidden)

    def draw(n):
        x = rng.standard_normal((n, dim))
        y = np.argmax(np.tanh(x @ w1) @ w2, axis=1)
        flip = rng.random(n) < label_noise
        y[flip] = rng.integers(0, classes, int(flip.sum()))
        return x.astype(np.float32), y.astype(np.int64)

    return _split(*draw(n_train), *draw(n_test))


def _regression(n_train=4_000, n_test=1_000, dim=8, noise=0.1) -> Data:
    """y = sin(3 a.x) + (b.x)^2 / 2 + noise for x uniform in [-1, 1]^8, standardised; targets (N, 1)."""
    rng = np.random.default_rng(1005)
    a, b = rng.standard_normal(dim) / math.sqrt(dim), rng.standard_normal(dim) / math.sqrt(dim)

    def draw(n):
        x = rng.uniform(-1, 1, (n, dim))
        y = np.sin(3 * x @ a) + 0.5 * (x @ b) ** 2 + noise * rng.standard_normal(n)
        return x.astype(np.float32), y

    x, y = draw(n_train)
    x_test, y_test = draw(n_test)
    mean, std = y.mean(), y.std()
    scale = lambda v: ((v - mean) / std).astype(np.float32)[:, None]  # noqa: E731
    return _split(x, scale(y), x_test, scale(y_test), regression=True)


DATASETS = {"mnist1d": _mnist1d, "fashion": _fashion, "spirals": _spirals, "teacher": _teacher,
            "regression": _regression}


@functools.lru_cache(maxsize=None)
def load_data(name: str) -> Data:
    """The arrays of dataset ``name``, built once per process (each builder is deterministic)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]()


# ----------------------------------------------------------------------------- models

class ConvBN1d(nn.Module):
    """MNIST-1D's CNN with batch norm after each conv: (conv -> BN -> ReLU) x 3 -> linear.  (N, 40) -> (N, 10)."""

    def __init__(self, channels: int, classes: int, length: int, rng):
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1, bias=False, rng=rng)
        self.bn1 = nn.BatchNorm1d(channels)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1, bias=False, rng=rng)
        self.bn2 = nn.BatchNorm1d(channels)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1, bias=False, rng=rng)
        self.bn3 = nn.BatchNorm1d(channels)
        for k, s, p in ((5, 2, 1), (3, 2, 1), (3, 2, 1)):
            length = (length + 2 * p - k) // s + 1
        self.linear = nn.Linear(channels * length, classes, rng=rng)

    def forward(self, x):
        h = x.reshape(x.shape[0], 1, x.shape[1])
        h = F.relu(self.bn1(self.conv1(h)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = F.relu(self.bn3(self.conv3(h)))
        return self.linear(F.flatten(h))


class SmallCNN2d(nn.Module):
    """Two strided 3x3 convs (8 and 16 channels), optional batch norm, then linear.  (N, 1, 14, 14) -> (N, 10).

    Sizes: 14 -> 7 -> 4, so 16 x 4 x 4 = 256 features. Strides instead of pooling keep a step cheap.
    """

    def __init__(self, batch_norm: bool, classes: int, rng):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, stride=2, padding=1, bias=not batch_norm, rng=rng)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=not batch_norm, rng=rng)
        self.bn1 = nn.BatchNorm2d(8) if batch_norm else None
        self.bn2 = nn.BatchNorm2d(16) if batch_norm else None
        self.linear = nn.Linear(16 * 4 * 4, classes, rng=rng)

    def forward(self, x):
        h = self.conv1(x)
        h = F.relu(self.bn1(h) if self.bn1 is not None else h)
        h = self.conv2(h)
        h = F.relu(self.bn2(h) if self.bn2 is not None else h)
        return self.linear(F.flatten(h))


def _features(data: Data) -> int:
    return int(np.prod(data.x_train.shape[1:]))


def _outputs(data: Data) -> int:
    return data.classes or 1


#: name -> builder(rng, data)
MODELS = {
    "logistic": lambda rng, d: zoo.Logistic(_features(d), _outputs(d), rng),
    "mlp": lambda rng, d: zoo.mlp(_features(d), [100, 100], _outputs(d), rng),
    "mlp64": lambda rng, d: zoo.mlp(_features(d), [64, 64], _outputs(d), rng),
    "resmlp": lambda rng, d: zoo.ResidualMLP(_features(d), 100, _outputs(d), rng),
    "cnn1d": lambda rng, d: zoo.ConvNet1d(25, _outputs(d), d.x_train.shape[-1], rng),
    "cnn1d_bn": lambda rng, d: ConvBN1d(25, _outputs(d), d.x_train.shape[-1], rng),
    "cnn2d": lambda rng, d: SmallCNN2d(False, _outputs(d), rng),
    "cnn2d_bn": lambda rng, d: SmallCNN2d(True, _outputs(d), rng),
}

# ----------------------------------------------------------------------------- optimizers

#: name -> builder(params, lr); momentum is fixed at 0.9 where there is one (Adam: beta1 = 0.9)
OPTIMIZERS = {
    "sgd": lambda params, lr: tn.optim.SGD(params, lr=lr, momentum=0.9, form="pytorch"),
    "sgd_caffe": lambda params, lr: tn.optim.SGD(params, lr=lr, momentum=0.9, form="caffe"),
    "nesterov": lambda params, lr: tn.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True),
    "adam": lambda params, lr: tn.optim.Adam(params, lr=lr),
    "rmsprop": lambda params, lr: tn.optim.RMSprop(params, lr=lr),
    "adagrad": lambda params, lr: tn.optim.Adagrad(params, lr=lr),
}

# ----------------------------------------------------------------------------- the tasks

TASKS = (
    Task("m1d_logreg_sgd", "mnist1d", "logistic", "sgd", 32, 1000,
         "MNIST-1D, logistic regression, SGD momentum 0.9 (PyTorch form), batch 32"),
    Task("m1d_mlp_caffe", "mnist1d", "mlp", "sgd_caffe", 32, 1000,
         "MNIST-1D, MLP 40-100-100-10, SGD momentum 0.9 (Caffe form), batch 32"),
    Task("m1d_resmlp_adam", "mnist1d", "resmlp", "adam", 32, 1000,
         "MNIST-1D, residual MLP 40-100-100-10, Adam, batch 32"),
    Task("m1d_resmlp_sgd_b256", "mnist1d", "resmlp", "sgd", 256, 600,
         "MNIST-1D, residual MLP, SGD momentum 0.9, large batch 256"),
    Task("m1d_cnn_nesterov", "mnist1d", "cnn1d", "nesterov", 32, 800,
         "MNIST-1D, CNN (3 conv1d), Nesterov momentum 0.9, batch 32"),
    Task("m1d_cnnbn_sgd", "mnist1d", "cnn1d_bn", "sgd", 32, 800,
         "MNIST-1D, CNN with batch norm, SGD momentum 0.9, batch 32"),
    Task("m1d_cnnbn_rmsprop", "mnist1d", "cnn1d_bn", "rmsprop", 32, 800,
         "MNIST-1D, CNN with batch norm, RMSprop, batch 32"),
    Task("fm_logreg_adagrad", "fashion", "logistic", "adagrad", 64, 1000,
         "Fashion-MNIST 14x14 subset, logistic regression, Adagrad, batch 64"),
    Task("fm_mlp_rmsprop", "fashion", "mlp", "rmsprop", 64, 1000,
         "Fashion-MNIST 14x14 subset, MLP 196-100-100-10, RMSprop, batch 64"),
    Task("fm_resmlp_sgd_b512", "fashion", "resmlp", "sgd", 512, 400,
         "Fashion-MNIST 14x14 subset, residual MLP, SGD momentum 0.9, large batch 512"),
    Task("fm_cnn_adam", "fashion", "cnn2d", "adam", 32, 600,
         "Fashion-MNIST 14x14 subset, CNN (2 conv2d), Adam, batch 32"),
    Task("fm_cnnbn_caffe", "fashion", "cnn2d_bn", "sgd_caffe", 32, 600,
         "Fashion-MNIST 14x14 subset, CNN with batch norm, SGD momentum 0.9 (Caffe form), batch 32"),
    Task("spirals_mlp_nesterov", "spirals", "mlp64", "nesterov", 16, 1500,
         "three 2-D spirals, MLP 2-64-64-3, Nesterov momentum 0.9, small batch 16"),
    Task("teacher_mlp_adagrad", "teacher", "mlp64", "adagrad", 8, 1500,
         "20-D Gaussian inputs labelled by a random tanh network, MLP 20-64-64-4, Adagrad, batch 8"),
    Task("regress_mlp_adam", "regression", "mlp64", "adam", 32, 1000,
         "synthetic regression (8-D, MSE loss, score R^2), MLP 8-64-64-1, Adam, batch 32"),
)
TASKS_BY_NAME = {t.name: t for t in TASKS}
#: the --quick run: two tasks, one classification and the regression, on a short budget
QUICK_TASKS = ("m1d_logreg_sgd", "regress_mlp_adam")
QUICK_ITERATIONS = 60


# ----------------------------------------------------------------------------- building and scoring

def loss_fn(task: Task):
    """MSE for the regression task, cross-entropy otherwise; ``loss_fn(outputs, targets) -> scalar Tensor``."""
    return F.mse_loss if task.regression else F.cross_entropy


def build(task: Task, seed: int, lr: float):
    """``(model, optimizer, data)`` for ``task``; the weights are drawn from ``seed``."""
    data = load_data(task.data)
    model = MODELS[task.model](init.as_generator(seed), data)
    return model, OPTIMIZERS[task.optimizer](model.parameters(), lr), data


def train_loader(task: Task, data: Data, seed: int) -> DataLoader:
    """Shuffled training batches; ``seed`` fixes their order."""
    return DataLoader(ArrayDataset(data.x_train, data.y_train), task.batch_size, shuffle=True, seed=seed)


def val_loader(data: Data, batch_size: int = 500) -> DataLoader:
    return DataLoader(ArrayDataset(data.x_val, data.y_val), batch_size)


def score(task: Task, model, x, y, batch_size: int = 1000) -> float:
    """Test accuracy (classification) or R^2 (regression) of ``model`` on ``(x, y)``, in eval mode."""
    model.eval()
    outs = []
    with tn.no_grad(), np.errstate(all="ignore"):
        for i in range(0, len(x), batch_size):
            outs.append(model(tn.Tensor(x[i:i + batch_size])).numpy())
    model.train()
    out = np.concatenate(outs)
    if task.regression:
        return float(1.0 - np.mean((out - y) ** 2) / np.var(y))
    return float(np.mean(np.argmax(out, axis=1) == y))


def train_run(task: Task, seed: int, policy, iterations: int | None = None,
              eval_every: int | None = None) -> dict:
    """Train ``task`` from ``seed`` with the lr ``policy(it)``; evaluate every ``eval_every`` steps.

    Returns ``iterations`` (the eval points, 0 first), ``scores`` (test score at each), ``final``
    (the last score; the chance score if the run diverged), ``diverged_at`` (the step whose loss was not
    finite, or whose weights gave a non-finite score; None otherwise) and ``train_loss`` (the mean
    training loss of the last tenth of the steps run).
    """
    iterations = task.iterations if iterations is None else iterations
    eval_every = task.eval_every if eval_every is None else eval_every
    model, opt, data = build(task, seed, float(policy(0)))
    lossf = loss_fn(task)
    scheduler = PolicyScheduler(opt, policy)  # writes lr_0 now and lr_{it+1} at each step()
    batches = train_loader(task, data, seed).endless()
    its, scores, losses = [0], [score(task, model, data.x_test, data.y_test)], []
    diverged_at = None
    with np.errstate(all="ignore"):  # an overflow is caught below as a non-finite loss
        for it in range(iterations):
            x, y = next(batches)
            loss = lossf(model(tn.Tensor(x)), y)
            value = float(loss.item())
            if not math.isfinite(value):
                diverged_at = it
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(value)
            if it + 1 < iterations:
                scheduler.step()
            if (it + 1) % eval_every == 0 or it + 1 == iterations:
                its.append(it + 1)
                scores.append(score(task, model, data.x_test, data.y_test))
                if not math.isfinite(scores[-1]):
                    diverged_at = it
                    break
    final = data.chance if diverged_at is not None else scores[-1]
    tail = losses[-max(1, len(losses) // 10):] if losses else [math.nan]
    return {"iterations": its, "scores": scores, "final": float(final), "diverged_at": diverged_at,
            "train_loss": float(np.mean(tail)), "chance": data.chance}
