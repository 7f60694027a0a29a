"""Torch settings shared by the harness and the method toolbox: intra-op thread limits and Adam."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterable, Iterator

if TYPE_CHECKING:  # torch is imported where it is used: importing this module stays cheap
    import torch


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with at most ``n`` torch intra-op threads, restoring the previous count after.

    Small-batch training (16 x 2048 inputs) gains nothing from more threads and loses a lot on a busy
    machine, where OpenMP threads wait on each other (measured 6x slower with 2 threads than 1 under
    load). None: leave the setting alone.
    """
    import torch

    previous = torch.get_num_threads()
    if n is not None and n < previous:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def adam(params: Iterable["torch.nn.Parameter"], lr: float, **kwargs) -> "torch.optim.Optimizer":
    """``torch.optim.Adam`` with betas (0.9, 0.999) and the fused kernel where the device has one (much less
    per-step overhead on small batches), else the foreach implementation. ``kwargs``: e.g. weight_decay."""
    import torch

    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), fused=True, **kwargs)
    except (RuntimeError, TypeError):  # fused Adam is not available for every device / dtype
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), foreach=True, **kwargs)
