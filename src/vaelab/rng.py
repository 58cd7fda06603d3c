"""One rule for the random state a function is given: a numpy Generator, a seed, or a legacy RandomState."""

from __future__ import annotations

import numpy as np


def as_generator(rng) -> np.random.Generator:
    """A Generator as it is; an int seeds a new one; a RandomState (disentanglement_lib's kind) seeds a new one
    from its next draw, so that it, too, gives the same numbers for the same state."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.RandomState):
        return np.random.default_rng(rng.randint(2**31 - 1))
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator, a RandomState or an int seed, not {type(rng).__name__}")
