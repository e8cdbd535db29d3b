"""Stochastic gradient descent with momentum, in PyTorch's form or in Caffe's form."""
from __future__ import annotations

from .. import backend, checks
from .optimizer import Optimizer

FORMS = ("pytorch", "caffe")


class SGD(Optimizer):
    """SGD with optional momentum, Nesterov momentum and L2 weight decay.

    With ``d = g + weight_decay * p`` (g the gradient), ``m`` the momentum and ``v`` the
    velocity buffer, one step is:

    ``form='pytorch'`` (default; ``torch.optim.SGD``), lr applied *after* the velocity::

        v = d                          on the first step
        v = m * v + (1 - dampening) * d   afterwards
        p = p - lr * v                 (nesterov: p = p - lr * (d + m * v))

    ``form='caffe'`` (Caffe's SGDSolver, used by the CLR paper), lr *inside* the velocity::

        v = m * v + lr * d             (v starts at 0)
        p = p - v
        nesterov (Caffe's NesterovSolver): p = p - ((1 + m) * v - m * v_old),
        computed as p = p - (lr * d + m * v), which is the same since v - m * v_old = lr * d.

    For a constant lr both forms give the same trajectory (the Caffe velocity is lr times
    the PyTorch one). When a scheduler changes lr every step they differ: PyTorch multiplies
    the whole accumulated velocity by today's lr, Caffe keeps each past gradient scaled by
    the lr of the step that produced it. See docs/momentum.md.

    Args:
        params: Tensors or param-group dicts (see ``Optimizer``).
        lr: learning rate (>= 0), required.
        momentum: in [0, 1); 0 is plain SGD.
        dampening: in [0, 1], scales the new gradient in the PyTorch form (Caffe has none).
        weight_decay: L2 coefficient (>= 0), added to the gradient as above.
        nesterov: Nesterov momentum; needs momentum > 0 and dampening 0.
        form: 'pytorch' or 'caffe', where lr enters the momentum (may differ per group).
    """

    _optional_buffers = ("momentum_buffer",)
    _momentum_entry = "momentum"

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 form="pytorch"):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, form=form))

    def _check_options(self, group, where):
        momentum = checks.fraction(where, "momentum", group["momentum"])
        dampening = checks.real(where, "dampening", group["dampening"])
        if not 0 <= dampening <= 1:
            raise ValueError(f"{where}: dampening must be in [0, 1], got {group['dampening']!r}")
        nesterov = group["nesterov"]
        if not isinstance(nesterov, bool):
            raise TypeError(f"{where}: nesterov must be True or False, got {nesterov!r}")
        form = group["form"]
        if form not in FORMS:
            raise ValueError(f"{where}: form must be 'pytorch' or 'caffe', got {form!r}")
        if nesterov and (momentum == 0 or dampening != 0):
            raise ValueError(f"{where}: nesterov=True needs momentum > 0 and dampening == 0, "
                             f"got momentum={group['momentum']!r}, dampening={group['dampening']!r}")
        if form == "caffe" and dampening != 0:
            raise ValueError(f"{where}: form='caffe' has no dampening, got dampening={group['dampening']!r}")
        return {"momentum": momentum, "dampening": dampening, "nesterov": nesterov, "form": form}

    def _update(self, p, g, state, h):
        lr, m, wd, v = h["lr"], h["momentum"], h["weight_decay"], state.get("momentum_buffer")
        if h["form"] == "caffe":
            if v is None and m == 0:  # plain SGD: no buffer needed
                backend.launch("tinynet_sgd", g, lr, wd, p)
                return
            if v is None:  # Caffe's velocity starts at 0
                v = state["momentum_buffer"] = backend.get_array_module(p).zeros_like(p)
            backend.launch("tinynet_sgd_caffe", g, lr, m, wd, h["nesterov"], p, v)
        elif m == 0:  # plain SGD; like torch, an existing buffer is left as it is
            backend.launch("tinynet_sgd", g, lr, wd, p)
        else:
            first = v is None  # torch's first step: v = d, undamped
            if first:
                v = state["momentum_buffer"] = backend.get_array_module(p).empty_like(p)
            backend.launch("tinynet_sgd_momentum", g, lr, m, 1.0 - h["dampening"], wd, h["nesterov"], first, p, v)
