"""The Optimizer base class: parameter groups, the step loop, and checkpoints.

An optimizer holds two things:

* ``param_groups``: a list of dicts. Each has ``'params'`` (a list of Tensors) and the
  hyper-parameters for those params: ``'lr'``, the momentum term (``'momentum'``, or
  ``'betas'`` for Adam), ``'weight_decay'``, ... They are plain writable entries, read afresh
  at every ``step()``, so a scheduler sets ``group['lr'] = ...`` before a step and that step
  uses it. Every entry is checked where it is given (constructor, ``add_param_group``,
  ``load_state_dict``); ``step()`` re-checks only lr and the momentum term, the two that a
  scheduler changes between steps. Groups give per-parameter settings, e.g. weight decay for
  weights and none for biases (Caffe's ``decay_mult``)::

      SGD([{'params': weights, 'weight_decay': 5e-4},
           {'params': biases, 'weight_decay': 0}], lr=0.01, momentum=0.9)

* ``state``: per-parameter buffers (velocity, running averages) and a ``'step'`` count,
  in a dict keyed by the parameter's *position*: its index over all groups in order
  (0, 1, 2, ...). Positions, unlike ``id()``, are the same in a new process, so a
  checkpoint loads into a freshly built model. Do not edit ``group['params']`` after
  construction (positions would shift); use ``add_param_group``.

A subclass passes its ``defaults`` to ``__init__`` and writes three small methods:
``_check_options`` (validate its own hyper-parameters), ``_init_state`` (the buffers a
parameter starts with) and ``_update`` (one parameter's in-place update, on arrays). The
update itself is one fused kernel in ``tinynet.backend`` (one pass over memory on the GPU),
whose NumPy twin runs on the CPU.
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping, Set

import numpy as np

from .. import backend, checks
from ..autograd import no_grad
from ..tensor import Tensor

_LABEL_KEYS = ("name",)  # keys a user may add to a group besides the hyper-parameters


# ------------------------------------------------------------------ the base class
class Optimizer:
    """Base class: holds ``param_groups`` and ``state``; subclasses define the update rule.

    Args:
        params: an iterable of Tensors, or of dicts (param groups) with a ``'params'`` entry
            and any hyper-parameters that override ``defaults`` for that group.
        defaults: the hyper-parameters a group gets when it does not set them.
    """

    #: Names of the array buffers every state entry has / may have (checked by load_state_dict).
    _buffers: tuple = ()
    _optional_buffers: tuple = ()
    #: The group entry holding the momentum term, which a scheduler may cycle: 'momentum',
    #: 'betas' (its first element) or None.
    _momentum_entry: str | None = None

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        name = type(self).__name__
        self._check_hyper(self.defaults, name)  # bad keyword arguments fail here, named as given
        self.param_groups: list[dict] = []
        self.state: dict[int, dict] = {}
        for group in _as_groups(params, name):
            self.add_param_group(group)

    # -------------------------------------------------------------- groups
    def add_param_group(self, group: Mapping) -> None:
        """Append a group: ``{'params': [...], 'lr': ..., ...}``; missing options come from ``defaults``.

        Its parameters take the next positions, so earlier state keeps its keys.
        """
        where = f"{type(self).__name__} param_groups[{len(self.param_groups)}]"
        if not isinstance(group, Mapping):
            raise TypeError(f"{where}: a param group must be a dict with a 'params' entry, "
                            f"got {type(group).__name__}")
        if "params" not in group:
            raise ValueError(f"{where}: the group has no 'params' entry; "
                             "write {'params': [tensor, ...], 'lr': ...}")
        unknown = [k for k in group if k != "params" and k not in self.defaults and k not in _LABEL_KEYS]
        if unknown:
            raise ValueError(f"{where}: unknown option(s) {unknown}; {type(self).__name__} takes "
                             f"{sorted(self.defaults)} (and 'name' as a label)")
        params = _param_list(group["params"], where)
        # identity, not ==: two equal-valued tensors are different parameters (ids are used only here)
        seen = {id(p): i for i, p in enumerate(self._all_params())}
        for i, p in enumerate(params):
            if id(p) in seen:
                raise ValueError(f"{where}: params[{i}] is already optimized at position {seen[id(p)]}; "
                                 "a parameter may appear only once across all groups")
            seen[id(p)] = len(seen)
        new = {"params": params}
        for key, default in self.defaults.items():
            new[key] = group.get(key, default)
        new.update(self._check_hyper(new, where))  # stored as checked, plain Python values
        for key in _LABEL_KEYS:
            if key in group:
                new[key] = group[key]
        self.param_groups.append(new)

    def _all_params(self):
        for group in self.param_groups:
            yield from group["params"]

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None (frees the arrays; backward then assigns fresh ones)."""
        for p in self._all_params():
            p.grad = None

    # -------------------------------------------------------------- the step
    def step(self) -> None:
        """Update every parameter in place from its ``.grad``; parameters with ``grad is None`` are skipped.

        Hyper-parameters are read from the groups now, so a scheduler's latest values apply.
        """
        name = type(self).__name__
        # Check first, so a bad lr or momentum (a NaN set by a scheduler) or a mis-shaped grad
        # raises before any parameter has moved. These are host-side checks: no device work.
        work, position = [], 0
        for gi, group in enumerate(self.param_groups):
            hyper = self._step_hyper(group, f"{name}.step(): param_groups[{gi}]")
            for p in group["params"]:
                if p.grad is not None:
                    work.append((position, p, _checked_grad(p, position, name), hyper))
                position += 1
        with no_grad():
            for position, p, grad, hyper in work:
                state = self.state.get(position)
                if state is None:
                    state = self.state[position] = {"step": 0, **self._init_state(p.data, hyper)}
                else:
                    _follow_param(state, p)
                state["step"] += 1
                self._update(p.data, grad, state, hyper)

    def _step_hyper(self, group: Mapping, where: str) -> dict:
        """This step's hyper-parameters. lr and the momentum term are checked (a scheduler sets them
        between steps); the rest were checked when given and are read as they are."""
        hyper = {k: group[k] for k in self.defaults}
        hyper["lr"] = checks.nonnegative(where, "lr", group["lr"])
        if self._momentum_entry == "momentum":
            hyper["momentum"] = checks.fraction(where, "momentum", group["momentum"])
        elif self._momentum_entry == "betas":
            betas = group["betas"]
            hyper["betas"] = (checks.fraction(where, "betas[0]", betas[0]), float(betas[1]))
        return hyper

    def _check_hyper(self, group: Mapping, where: str) -> dict:
        """Validate a group's hyper-parameters; return them as plain Python values."""
        missing = [k for k in self.defaults if k not in group]
        if missing:
            raise ValueError(f"{where}: missing hyper-parameter(s) {missing}")
        hyper = {"lr": checks.nonnegative(where, "lr", group["lr"]),
                 "weight_decay": checks.nonnegative(where, "weight_decay", group["weight_decay"])}
        hyper.update(self._check_options(group, where))
        return hyper

    # subclasses fill these in
    def _check_options(self, group: Mapping, where: str) -> dict:
        """Validate this optimizer's own options (all but lr and weight_decay); return plain values."""
        raise NotImplementedError

    def _init_state(self, param, hyper: dict) -> dict:
        """The buffers a parameter starts with (arrays like ``param``)."""
        return {}

    def _update(self, param, grad, state: dict, hyper: dict) -> None:
        """Update the array ``param`` in place (one ``backend.launch``). ``grad`` is read-only (it may
        be shared with other parameters); ``state['step']`` is already 1-based."""
        raise NotImplementedError

    # -------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        """A snapshot that JSON or ``np.savez`` can store::

            {'state': {position: {'step': int, buffer_name: np.ndarray, ...}, ...},
             'param_groups': [{'lr': float, ..., 'params': [position, ...]}, ...]}

        Buffers are copied to host NumPy arrays; later steps do not change the snapshot.
        """
        groups, position = [], 0
        for group in self.param_groups:
            saved = {k: _plain(v) for k, v in group.items() if k != "params"}
            n = len(group["params"])
            saved["params"] = list(range(position, position + n))
            position += n
            groups.append(saved)
        state = {}
        for pos in sorted(self.state):
            entry = self.state[pos]
            state[pos] = {k: (int(v) if k == "step" else _host_copy(v)) for k, v in entry.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore hyper-parameters and buffers saved by ``state_dict`` (also after a JSON round trip).

        The groups must hold the same number of parameters as here, and buffers the shapes of
        their parameters; otherwise ValueError names the mismatch and nothing is changed.
        Buffers are copied to each parameter's dtype and device.
        """
        where = f"{type(self).__name__}.load_state_dict()"
        if not isinstance(state_dict, Mapping) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{where}: expected a dict with 'state' and 'param_groups' "
                             f"(from Optimizer.state_dict()), got {type(state_dict).__name__}")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{where}: the state_dict has {len(saved_groups)} param group(s), "
                             f"this optimizer has {len(self.param_groups)}")
        new_groups, params, position = [], [], 0
        for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            gwhere = f"{where} param_groups[{gi}]"
            n = len(group["params"])
            ids = list(saved.get("params", ()))
            if ids != list(range(position, position + n)):
                raise ValueError(f"{gwhere}: the state_dict lists {len(ids)} param(s) at positions {ids}, "
                                 f"this optimizer has {n} at positions {position}..{position + n - 1}")
            new = {"params": group["params"]}
            for key, value in saved.items():
                if key != "params":  # extra keys (e.g. a scheduler's 'initial_lr') come back too
                    tuple_default = isinstance(self.defaults.get(key), tuple)
                    new[key] = tuple(value) if tuple_default and isinstance(value, list) else value
            new.update(self._check_hyper(new, gwhere))
            new_groups.append(new)
            params.extend(group["params"])
            position += n

        new_state = {}
        for key, entry in dict(state_dict["state"]).items():
            pos = _position(key, len(params), where)
            new_state[pos] = self._restore_entry(entry, params[pos], f"{where} state[{pos}]")
        # everything checked: now commit, into the same group dicts (a scheduler may hold them)
        for group, new in zip(self.param_groups, new_groups):
            group.clear()
            group.update(new)
        self.state = new_state

    def _restore_entry(self, entry, param: Tensor, where: str) -> dict:
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected a dict of buffers, got {type(entry).__name__}")
        allowed = ("step",) + self._buffers + self._optional_buffers
        unknown = [k for k in entry if k not in allowed]
        missing = [k for k in ("step",) + self._buffers if k not in entry]
        if unknown or missing:
            raise ValueError(f"{where}: {type(self).__name__} state has {list(allowed)}, but this entry "
                             f"lacks {missing} and has unknown {unknown} (saved from another optimizer?)")
        step = entry["step"]
        if isinstance(step, bool) or not isinstance(step, numbers.Real) or step != int(step) or step < 0:
            raise ValueError(f"{where}: 'step' must be an integer >= 0, got {step!r}")
        out = {"step": int(step)}
        for k in entry:
            if k == "step":
                continue
            host = np.array(backend.to_numpy(entry[k]), dtype=param.dtype)  # a copy, in the param's dtype
            if host.shape != param.shape:
                raise ValueError(f"{where}: buffer '{k}' has shape {host.shape}, "
                                 f"but its parameter has shape {param.shape}")
            if not np.isfinite(host).all():  # a NaN/inf buffer would silently poison every later step
                raise ValueError(f"{where}: buffer '{k}' holds {int(np.size(host) - np.isfinite(host).sum())} "
                                 "non-finite value(s) (NaN or inf); the checkpoint is damaged or was saved "
                                 "after training diverged")
            out[k] = backend.to_device(host, param.device)
        return out

    def __repr__(self):
        lines = [f"{type(self).__name__}("]
        for i, group in enumerate(self.param_groups):
            opts = ", ".join(f"{k}={v!r}" for k, v in group.items() if k != "params")
            lines.append(f"  param_groups[{i}]: {len(group['params'])} params, {opts}")
        return "\n".join(lines + [")"])


# ------------------------------------------------------------------ helpers
def _as_groups(params, where: str) -> list:
    """Normalise ``params`` (Tensors or dicts) to a list of group dicts."""
    if isinstance(params, (Tensor, Mapping)):
        kind = "a single Tensor" if isinstance(params, Tensor) else "a single dict"
        raise TypeError(f"{where}: params must be an iterable of Tensors or of dicts (param groups), "
                        f"got {kind}; wrap it in a list")
    if isinstance(params, Set):
        raise TypeError(f"{where}: params must be an ordered iterable (list, generator), not a set: "
                        "positions in that order key the optimizer state")
    try:
        items = list(params)
    except TypeError:
        raise TypeError(f"{where}: params must be an iterable of Tensors or of dicts, "
                        f"got {type(params).__name__}") from None
    if not items:
        raise ValueError(f"{where}: params is empty, so there is nothing to optimize "
                         "(was a model.parameters() generator already used up?)")
    if all(isinstance(x, Mapping) for x in items):
        return items
    for i, x in enumerate(items):
        if isinstance(x, Mapping):
            raise TypeError(f"{where}: params mixes Tensors and dicts (params[{i}] is a dict); "
                            "pass either Tensors or param-group dicts")
    return [{"params": items}]


def _param_list(params, where: str) -> list:
    if isinstance(params, Tensor):
        params = [params]
    elif isinstance(params, Set):
        raise TypeError(f"{where}: 'params' must be ordered (a list), not a set")
    else:
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"{where}: 'params' must be a list of Tensors, got {type(params).__name__}") from None
    if not params:
        raise ValueError(f"{where}: 'params' is empty; every group needs at least one parameter")
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{where}: params[{i}] is a {type(p).__name__}, not a Tensor; "
                            "wrap arrays as Tensor(array, requires_grad=True) or use nn.Parameter")
        if not np.issubdtype(p.dtype, np.floating):
            raise TypeError(f"{where}: params[{i}] has dtype {p.dtype}; only floating-point tensors "
                            "can be optimized")
        if not p.is_leaf:  # its .grad is never filled: backward stops at leaves
            raise ValueError(f"{where}: params[{i}] is not a leaf tensor (it was computed by an op, so "
                             "backward never fills its .grad); optimize the tensors you created, or "
                             "make a new leaf with t.detach().requires_grad_()")
    return params


def _follow_param(state: dict, p: Tensor) -> None:
    """Move a parameter's buffers to its device after ``model.to(device)`` moved the parameter
    (a type check per buffer; a copy only on the step after a move)."""
    kind = type(p.data)
    for k, v in state.items():
        if k != "step" and type(v) is not kind:
            state[k] = backend.to_device(v, p.device)


def _checked_grad(p: Tensor, position: int, name: str):
    grad = p.grad
    if isinstance(grad, Tensor):  # tolerate a Tensor assigned to .grad
        grad = grad.data
    if not hasattr(grad, "shape") or not hasattr(grad, "dtype"):
        raise TypeError(f"{name}.step(): param at position {position} has a .grad of type "
                        f"{type(grad).__name__}; it must be an array like the param's data")
    if grad.shape != p.shape:  # a silent broadcast would spread one value over the whole parameter
        raise ValueError(f"{name}.step(): param at position {position} has shape {p.shape} "
                         f"but its grad has shape {grad.shape}")
    if grad.dtype != p.dtype or backend.device_of(grad) != p.device:
        raise TypeError(f"{name}.step(): param at position {position} is {p.dtype} on {p.device} "
                        f"but its grad is {grad.dtype} on {backend.device_of(grad)}")
    return grad


def _position(key, n: int, where: str) -> int:
    """A state key as an int position; JSON turns int keys into strings, so accept '3' too."""
    try:
        pos = int(key)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: state key {key!r} is not a parameter position") from None
    if not 0 <= pos < n or str(pos) != str(key).strip():
        raise ValueError(f"{where}: state key {key!r} is not a position in 0..{n - 1}")
    return pos


def _plain(value):
    """Hyper-parameter values as plain Python values (JSON-friendly)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    return value


def _host_copy(array) -> np.ndarray:
    host = backend.to_numpy(array)
    return host.copy() if host is array else host
