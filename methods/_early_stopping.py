"""The slope-based early stopping of the ICIS family (pure, testable on a synthetic loss curve); Sub.Reg. and
wDAE-GNN use it too (through :func:`zslbench.methods.icis.train_epochs`, and wDAE's DAE loop directly)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

COSINE_THRESHOLD = 2e-3
"""Early-stopping slope threshold for cosine losses (the paper's)."""
MSE_THRESHOLD = 2e-6
"""Early-stopping slope threshold for the MSE loss (the paper's)."""


def loss_slope(losses: Sequence[float], window: int = 10) -> float:
    """Decrease per epoch between the last two windows: ``-(mean(last w) - mean(w before)) / w``.

    Positive while the loss falls. Needs at least ``2 * window`` losses.
    """
    if len(losses) < 2 * window:
        raise ValueError(f"loss_slope needs {2 * window} epoch losses, got {len(losses)}")
    last = float(np.mean(losses[-window:]))
    before = float(np.mean(losses[-2 * window:-window]))
    return -(last - before) / window


class SlopeStopper:
    """Incremental form of :func:`early_stop_epoch`: feed one epoch loss at a time.

    From epoch ``start`` (1-based) on, an epoch whose :func:`loss_slope` is below ``threshold`` counts;
    ``patience`` consecutive counting epochs stop training. With ``after_descent``, epochs count only once
    some slope has reached ``threshold`` (``armed_epoch``): a loss that starts slower than the threshold
    keeps training until it has fallen at that rate. This changes a run only where the plain rule stops
    before any slope reaches the threshold, i.e. at epoch ``start + patience - 1``.
    """

    def __init__(self, threshold: float, *, start: int = 21, window: int = 10, patience: int = 5,
                 after_descent: bool = False) -> None:
        if start < 2 * window:
            raise ValueError(f"start ({start}) must be >= 2 * window ({2 * window})")
        self.threshold, self.start, self.window, self.patience = threshold, start, window, patience
        self.losses: list[float] = []
        self.count = 0
        self.armed_epoch: int | None = None if after_descent else start

    def update(self, loss: float) -> bool:
        """Record the loss of the epoch just finished; True when training should stop now."""
        self.losses.append(float(loss))
        if len(self.losses) < self.start:
            return False
        slope = loss_slope(self.losses[-2 * self.window:], self.window)
        if self.armed_epoch is None and slope >= self.threshold:
            self.armed_epoch = len(self.losses)
        self.count = self.count + 1 if self.armed_epoch is not None and slope < self.threshold else 0
        return self.count >= self.patience


def early_stop_epoch(
    losses: Sequence[float], threshold: float, *, start: int = 21, window: int = 10, patience: int = 5,
    after_descent: bool = False,
) -> int | None:
    """The 1-based epoch after which training on this loss curve stops, or None if it never does."""
    stopper = SlopeStopper(threshold, start=start, window=window, patience=patience, after_descent=after_descent)
    for epoch, loss in enumerate(losses, start=1):
        if stopper.update(loss):
            return epoch
    return None
