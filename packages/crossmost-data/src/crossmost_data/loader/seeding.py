"""Per-sample random generators: every random choice of the loader is a function of (seed, epoch, index).

No transform reads the global ``random``/``numpy.random``/``torch`` generators, so a sample comes out the same
whatever the number of loader workers or processes and whatever order the samples are drawn in. Each kind of
randomness (view choice, image, mask, weak points, strong points, subsampling) has its own stream, so changing one
augmentation setting never shifts the random numbers another one sees.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum

import numpy as np

__all__ = ["Stream", "global_rng_seeded", "sample_rng"]


class Stream(IntEnum):
    """The independent random streams of one sample."""

    VIEW = 1
    IMAGE_WEAK = 2
    IMAGE_STRONG = 3
    MASK = 4
    POINTS_WEAK = 5
    POINTS_STRONG = 6
    SUBSAMPLE = 7


def sample_rng(seed: int, epoch: int, index: int, stream: Stream, repeat: int = 0) -> np.random.Generator:
    """The generator of one random stream of one sample.

    Args:
        seed: The run seed.
        epoch: The epoch (use 0 for anything that must not change between epochs).
        index: The global index of the sample in its split.
        stream: Which kind of randomness.
        repeat: How many times the sample was already seen in this epoch (streaming with repetition), else 0.

    Returns:
        A PCG64 generator seeded from all five numbers.
    """
    for name, value in (("seed", seed), ("epoch", epoch), ("index", index), ("repeat", repeat)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0 to seed a sample generator, got {value}")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch, index, repeat, int(stream)])))


@contextmanager
def global_rng_seeded(rng: np.random.Generator) -> Iterator[None]:
    """Temporarily seed Python's ``random`` and NumPy's legacy global generator from ``rng``, then restore them.

    timm's RandAugment draws from these global generators (``random.random``, ``random.gauss``,
    ``np.random.choice``). Running it inside this context makes its output a function of ``rng`` only, and
    leaves the caller's global state exactly as it was. The global state is per process, and loader workers are
    processes, so this is safe in a ``DataLoader``; do not run two transforms concurrently in threads of one process.
    """
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    random.seed(int(rng.integers(0, 2**63 - 1)))
    np.random.seed(int(rng.integers(0, 2**32 - 1)))
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
