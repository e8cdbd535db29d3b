"""Stochastic gradient descent with momentum, in PyTorch's form or in Caffe's form."""
from __future__ import annotations

from ..backend import get_array_module
from .optimizer import Optimizer, as_real, check_fraction, weight_decayed

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

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 form="pytorch"):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, form=form))

    def _check_options(self, group, where):
        momentum = check_fraction(group["momentum"], "momentum", where)
        dampening = as_real(group["dampening"], "dampening", where)
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
        d = weight_decayed(g, p, h["weight_decay"])  # may be g itself: read only
        if h["form"] == "caffe":
            self._caffe_update(p, g, d, state, h)
        else:
            self._pytorch_update(p, g, d, state, h)

    @staticmethod
    def _pytorch_update(p, g, d, state, h):
        lr, m = h["lr"], h["momentum"]
        if m == 0:  # plain SGD; like torch, an existing buffer is left as it is
            p -= lr * d
            return
        v = state.get("momentum_buffer")
        if v is None:
            # first step: v = d, undamped (as torch does); adopt d unless it is the shared grad
            v = state["momentum_buffer"] = d.copy() if d is g else d
        else:
            v *= m
            if h["dampening"]:
                v += (1 - h["dampening"]) * d
            else:
                v += d
        if h["nesterov"]:
            direction = m * v
            direction += d
            direction *= lr
            p -= direction
        else:
            p -= lr * v

    @staticmethod
    def _caffe_update(p, g, d, state, h):
        lr, m = h["lr"], h["momentum"]
        v = state.get("momentum_buffer")
        if v is None:
            if m == 0:  # plain SGD: no buffer needed
                p -= lr * d
                return
            v = state["momentum_buffer"] = get_array_module(p).zeros_like(p)
        step = lr * d
        v *= m
        v += step  # v = m * v + lr * d
        if h["nesterov"]:
            step += m * v  # (1 + m) v - m v_old = lr d + m v
            p -= step
        else:
            p -= v
