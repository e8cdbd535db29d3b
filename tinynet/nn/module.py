"""Module and Parameter: the bookkeeping every layer shares.

A Module remembers what is assigned to it, in assignment order (plain dicts, never sets, so
the order is the same in every run):

* ``Parameter`` attributes are its parameters (trained by the optimizer),
* Tensors registered with ``register_buffer`` are its buffers (state that is saved but not
  trained, such as batch norm's running mean),
* Module attributes are its children.

Names are dotted paths, as in PyTorch: ``"0.weight"``, ``"features.3.running_var"``, and the
order is PyTorch's too: a module's own members first, then each child's, depth first. So the
optimizer positions and ``state_dict`` keys of a model are the same in every run.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import backend
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module trains: ``requires_grad`` is True and it shows up in ``parameters()``."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True, dtype=None, device=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, device=device)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of layers and models: subclass it, assign parameters/submodules in
    ``__init__`` and write ``forward``. Calling the module calls ``forward``."""

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these three dicts to exist already
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ registration
    def _check_ready(self, name):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called; "
                                 f"call super().__init__() first in {type(self).__name__}.__init__")

    def __setattr__(self, name, value):
        self._check_ready(name)
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            self._forget(name)
            params[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to parameter {name!r} of "
                                f"{type(self).__name__}: use a Parameter (or None)")
            params[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign a {type(value).__name__} to buffer {name!r} of "
                                f"{type(self).__name__}: use a Tensor (or None)")
            buffers[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to submodule {name!r} of "
                                f"{type(self).__name__}: use a Module (or None)")
            modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name):
        """Drop ``name`` from every registry and from the plain attributes before re-registering."""
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        # Only called when normal lookup fails, i.e. for registered names.
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent one such as ``bias=False``)."""
        self._check_ready(name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected a Parameter or None, "
                            f"got {type(param).__name__}")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name, tensor):
        """Register non-trained state (a Tensor, or None) that ``state_dict`` saves and ``to`` moves."""
        self._check_ready(name)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer({name!r}): expected a Tensor or None, got {type(tensor).__name__}")
        if isinstance(tensor, Parameter):
            raise TypeError(f"register_buffer({name!r}): got a Parameter; buffers are not trained, "
                            "register it with register_parameter instead")
        self._forget(name)
        self._buffers[name] = tensor

    # ------------------------------------------------------------------ traversal
    def named_modules(self, prefix=""):
        """(name, module) for this module and every descendant, depth first, each module once."""
        seen = set()  # membership only; the order comes from the registration dicts
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            children = [(f"{name}.{n}" if name else n, m) for n, m in mod._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        return ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self):
        return (m for _, m in self.named_children())

    def _named_members(self, table, prefix="", recurse=True):
        seen = set()  # a tensor shared by two layers is listed once, under its first name
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, mod in mods:
            for name, t in getattr(mod, table).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{mod_name}.{name}" if mod_name else name), t

    def named_parameters(self, prefix="", recurse=True):
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse=True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix="", recurse=True):
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse=True):
        return (b for _, b in self.named_buffers(recurse=recurse))

    # ------------------------------------------------------------------ modes and gradients
    def train(self, mode=True):
        """Training mode (dropout drops, batch norm uses batch statistics); returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode, the same as ``train(False)``; returns self."""
        return self.train(False)

    def zero_grad(self):
        """Set every parameter's ``.grad`` to None."""
        for p in self.parameters():
            p.grad = None

    def to(self, device):
        """Move parameters and buffers (and gradients) to ``device`` in place; returns self.

        The Parameter objects stay the same, but an optimizer's buffers do not move with them:
        move the model before building its optimizer.
        """
        device = backend.check_device(device)
        for t in list(self.parameters()) + list(self.buffers()):
            t.data = backend.to_device(t.data, device)
            if t.grad is not None:
                t.grad = backend.to_device(t.grad, device)
        return self

    # ------------------------------------------------------------------ state
    def _state_items(self):
        """(name, tensor) for every parameter and buffer, in PyTorch's state_dict order:
        a module's own parameters, then its own buffers, then its children's, recursively."""
        for mod_name, mod in self.named_modules():
            for table in (mod._parameters, mod._buffers):
                for name, t in table.items():
                    if t is not None:
                        yield (f"{mod_name}.{name}" if mod_name else name), t

    def state_dict(self):
        """{name: numpy array copy} of every parameter and buffer (see ``_state_items`` for the order)."""
        # .numpy() already copies a GPU array to the host; a CPU array must be copied here
        return {name: (t.numpy().copy() if t.device == "cpu" else t.numpy()) for name, t in self._state_items()}

    def load_state_dict(self, state, strict=True):
        """Copy ``state`` (name -> array or Tensor) into the parameters and buffers in place.

        Values are cast to each tensor's dtype and moved to its device. Every problem is checked,
        and every value cast, before anything is written, and one ValueError names them all:
        entries of the wrong shape, and values that cannot be cast faithfully (see
        ``_cast_for_load``) always; missing and unexpected names too when ``strict``. So a failed
        load leaves the module as it was. Returns ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state, "items"):
            raise TypeError(f"load_state_dict expects a dict of name -> array, got {type(state).__name__}")
        own = dict(self._state_items())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        values, mis_shaped, mis_typed = {}, [], []
        for name, t in own.items():
            if name not in state:
                continue
            v = state[name]
            v = v.data if isinstance(v, Tensor) else v
            v = v if hasattr(v, "shape") and hasattr(v, "dtype") else np.asarray(v)
            if tuple(v.shape) != t.shape:
                mis_shaped.append(f"{name} (expected shape {t.shape}, got {tuple(v.shape)})")
                continue
            values[name], problem = _cast_for_load(v, t)
            if problem:
                mis_typed.append(f"{name} ({problem})")
        problems = []
        if strict and missing:
            problems.append("missing: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected: " + ", ".join(map(str, unexpected)))
        if mis_shaped:
            problems.append("wrong shape: " + ", ".join(mis_shaped))
        if mis_typed:
            problems.append("cannot cast: " + ", ".join(mis_typed))
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__} failed, nothing was loaded; "
                             + "; ".join(problems))
        for name, v in values.items():  # all cast and checked: these writes cannot fail halfway
            own[name].data[...] = v
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The text inside ``Name(...)`` for a leaf module; layers override it."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        lines = ([extra] if extra else []) + [
            f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        return f"{type(self).__name__}(\n" + "".join(f"  {line}\n" for line in lines) + ")"



def _cast_for_load(value, tensor):
    """(value cast to ``tensor``'s dtype on its device, None), or (None, why it cannot be).

    Only numbers load (bool, int, float arrays): an object array (None becomes NaN), strings or
    complex values (the imaginary part would be dropped) are refused. The cast must be faithful:
    into an integer or bool tensor it must be exact (1.7 is not an int, NaN is not either, 300 is
    not a uint8), and into a float tensor no finite value may become inf (1e40 into float32).
    Rounding to the nearer float (float64 weights into a float32 model) is allowed.
    """
    src = np.dtype(value.dtype)
    if src.kind not in "biuf":
        return None, f"dtype {src}; expected numbers (bool, int or float) to cast to {tensor.dtype}"
    value = backend.to_device(value, tensor.device)
    xp = backend.get_array_module(value)
    with np.errstate(all="ignore"):  # overflow is reported below, by name, instead of warned
        cast = value.astype(tensor.dtype)
        if cast.dtype.kind == "f":
            overflow = xp.isfinite(value) & ~xp.isfinite(cast)
            if bool(overflow.any()):
                worst = value[overflow].reshape(-1)[0].item()
                return None, f"{worst!r} is beyond the range of {tensor.dtype}"
        elif not bool((cast.astype(src) == value).all()):
            bad = value[cast.astype(src) != value].reshape(-1)[0].item()
            return None, f"{bad!r} is not exactly representable as {tensor.dtype}"
    return cast, None
