"""Sequential: modules applied one after the other."""
from __future__ import annotations

from .module import Module


class Sequential(Module):
    """y = m_k(...m_2(m_1(x))).  Children are named '0', '1', ...; supports len, iteration,
    indexing (``seq[-1]``) and slicing (``seq[1:]`` is a new Sequential sharing the modules)."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a Module")
            setattr(self, str(i), m)

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        mods = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*mods[index])
        try:
            return mods[index]
        except IndexError:
            raise IndexError(f"Sequential index {index} is out of range for {len(mods)} modules") from None
        except TypeError:
            raise TypeError(f"Sequential indices must be ints or slices, got {type(index).__name__}") from None

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x
