"""The public toolbox of method code: seeded torch randomness, thread limits, Adam, the softmax trainer,
per-epoch progress.

A method module imports the method contract (:mod:`zslbench.method`), the registry
(:func:`zslbench.registry.register_method`) and this module, nothing else of the harness.

Seeds: every draw here takes one value from the fit's numpy generator, so a fit is a function of its
``rng``. ``bound`` is part of a method's seed stream (``rng.integers(bound)``): existing methods keep the
bound they have always used so that their records do not move; new methods should use the default.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator

import numpy as np

from zslbench.base_classifier import BaseClassifierSettings, train_linear_softmax
from zslbench.progress import Epochs, epoch_done
from zslbench.torch_runtime import adam, torch_threads

if TYPE_CHECKING:  # torch is imported where it is used: importing the toolbox stays cheap
    import torch

__all__ = [
    "SEED_BOUND",
    "BaseClassifierSettings",
    "Epochs",
    "adam",
    "draw_seed",
    "epoch_done",
    "seeded_torch",
    "torch_generator",
    "torch_threads",
    "train_linear_softmax",
]

SEED_BOUND = 2**31
"""Default exclusive upper bound of a drawn seed."""


def draw_seed(rng: np.random.Generator, bound: int = SEED_BOUND) -> int:
    """One seed in [0, bound) from the fit's generator (advances ``rng`` by one draw)."""
    return int(rng.integers(bound))


def torch_generator(rng: np.random.Generator, bound: int = SEED_BOUND) -> "torch.Generator":
    """A CPU ``torch.Generator`` seeded with :func:`draw_seed` (for ``randperm``, ``randn``, init)."""
    import torch

    return torch.Generator().manual_seed(draw_seed(rng, bound))


@contextlib.contextmanager
def seeded_torch(rng: np.random.Generator | int, device: str = "cpu", bound: int = SEED_BOUND) -> Iterator[None]:
    """Run the block with torch's global RNG seeded from ``rng`` (or with the int seed given); the caller's
    RNG state is restored after.

    Module initialisation, dropout, ``torch.randn`` and ``torch.randperm`` without a generator inside the
    block are then a function of the seed only. Accelerator RNG state is forked too when ``device`` is not
    the CPU.
    """
    import torch

    seed = int(rng) if isinstance(rng, (int, np.integer)) else draw_seed(rng, bound)
    dev = torch.device(device)
    forked = {"devices": []} if dev.type == "cpu" else {"devices": [dev], "device_type": dev.type}
    with torch.random.fork_rng(**forked):
        torch.manual_seed(seed)
        yield
