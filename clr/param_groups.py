"""The one place that writes a learning rate and a momentum into an optimizer's param groups.

Schedulers, the range test and the training loop all go through :func:`set_hyperparams`, so
"where does lr change?" has one answer. A param group is a dict (tinynet's and PyTorch's alike):

    group['lr']          the learning rate
    group['momentum']    SGD, RMSprop: the momentum coefficient
    group['betas'][0]    Adam-like optimizers: beta1 plays the role of momentum

PyTorch lets ``group['lr']`` be a 0-d tensor (for capturable/compiled optimizers); such a value is
updated in place, so the optimizer keeps seeing the same tensor object.
"""
from __future__ import annotations


def momentum_key(group: dict) -> str | None:
    """'momentum' or 'betas' (beta1), the entry of ``group`` that holds momentum; None if neither."""
    if "momentum" in group:
        return "momentum"
    if "betas" in group:
        return "betas"
    return None


def get_momentum(group: dict) -> float | None:
    """The momentum of ``group`` ('momentum', or betas[0]), or None for an optimizer without one."""
    key = momentum_key(group)
    if key is None:
        return None
    return float(group["momentum"] if key == "momentum" else group["betas"][0])


def _write(group: dict, key: str, value: float) -> None:
    old = group.get(key)
    if getattr(old, "ndim", None) == 0 and callable(getattr(old, "fill_", None)):
        old.fill_(value)  # a torch 0-d tensor: keep the object the optimizer holds
    else:
        group[key] = value


def set_hyperparams(group: dict, lr: float | None = None, momentum: float | None = None) -> None:
    """Write ``lr`` and/or ``momentum`` into one param group (None leaves that entry alone).

    ``momentum`` goes to ``group['momentum']``, or to ``group['betas'][0]`` (a tuple, the rest of betas
    kept, as PyTorch's schedulers write it). A group with neither raises ValueError naming its keys.
    """
    if lr is not None:
        _write(group, "lr", lr)
    if momentum is not None:
        key = momentum_key(group)
        if key == "momentum":
            _write(group, "momentum", momentum)
        elif key == "betas":
            group["betas"] = (momentum, *tuple(group["betas"])[1:])  # a tuple, as torch's schedulers write it
        else:
            keys = sorted(k for k in group if k != "params")
            raise ValueError(f"this param group has neither 'momentum' nor 'betas' to set momentum={momentum!r} "
                             f"(its keys: {keys}); use an optimizer with momentum, or do not cycle it")
