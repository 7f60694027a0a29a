"""Progress inside long fits: one call per epoch, a nested bar on a terminal, log lines otherwise.

A training loop adds one line at the end of its epoch body::

    epoch_done("icis", epoch, max_epochs, loss=epoch_loss)

and gets, under the sweep's ``runs`` bar, a bar with epochs done, the current loss and an ETA when stderr
is a terminal, or a line ``progress: icis epoch 40/1000, loss 0.0123, 12 s, eta ...`` on stderr every
``ZSLBENCH_PROGRESS_EVERY`` seconds (default 30) when it is not (a log file, a cluster worker). A bar
opens at a loop's first epoch (or when ``epoch`` goes back to 1) and closes at ``epoch == total``; loops
run one after another, so a new loop closes one that stopped early, and the runner calls
:func:`close_all` after every fit.
The ETA of an early-stopping loop is an upper bound (it counts to ``total``).

``ZSLBENCH_PROGRESS=0`` silences all of it (the tests set it); ``ZSLBENCH_PROGRESS=lines`` forces log
lines, ``ZSLBENCH_PROGRESS=bar`` forces bars.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Iterable, Iterator, TypeVar

T = TypeVar("T")

PROGRESS_ENV = "ZSLBENCH_PROGRESS"
EVERY_ENV = "ZSLBENCH_PROGRESS_EVERY"

_open: dict[str, "_Loop"] = {}
_last_event = time.perf_counter()
"""When the last loop event happened: a new loop's first epoch is timed from here."""


def progress_mode() -> str:
    """"off", "bar" or "lines", from ``ZSLBENCH_PROGRESS`` and whether stderr is a terminal."""
    value = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if value in ("0", "off", "false", "no"):
        return "off"
    if value in ("bar", "lines"):
        return value
    try:
        return "bar" if sys.stderr.isatty() else "lines"
    except (AttributeError, ValueError):
        return "lines"


def progress_active() -> bool:
    """True unless progress is off: loops may skip computing a loss only for display when it is False."""
    return progress_mode() != "off"


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class _Loop:
    def __init__(self, name: str, total: int, mode: str, started: float) -> None:
        self.name, self.total, self.mode, self.started = name, int(total), mode, started
        self.last_line = started
        self.every = float(os.environ.get(EVERY_ENV, "30") or 30)
        self.bar = None
        if mode == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc=name, unit="epoch", leave=False, dynamic_ncols=True)
            self.bar.start_t = self.bar.last_print_t = time.time() - (time.perf_counter() - started)

    def update(self, epoch: int, loss: float | str | None, now: float) -> None:
        loss_text = "" if loss is None else loss if isinstance(loss, str) else f"loss {loss:.4g}"
        if self.bar is not None:
            if loss_text:
                self.bar.set_postfix_str(loss_text, refresh=False)
            self.bar.update(epoch - self.bar.n)
        elif now - self.last_line >= self.every:
            self.last_line = now
            elapsed = now - self.started
            eta = elapsed / epoch * (self.total - epoch) if epoch else 0.0
            loss_text = f", {loss_text}" if loss_text else ""
            print(f"progress: {self.name} epoch {epoch}/{self.total}{loss_text}, {_fmt_seconds(elapsed)} elapsed, "
                  f"eta {_fmt_seconds(eta)}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def epoch_done(name: str, epoch: int, total: int, *, loss: float | str | None = None) -> None:
    """Report that ``epoch`` (1-based) of ``total`` of the loop ``name`` has finished, with its loss
    (a number, or a short text such as ``"w 0.12, cls 1.3"``). Cheap when progress is off."""
    global _last_event
    mode = progress_mode()
    now = time.perf_counter()
    if mode == "off":
        return
    loop = _open.get(name)
    if loop is None or epoch <= 1 or loop.mode != mode:
        close_all(reset_clock=False)  # loops run one after another: an open one stopped early
        loop = _open[name] = _Loop(name, max(int(total), int(epoch), 1), mode, _last_event)
    try:
        loop.update(int(epoch), loss if loss is None or isinstance(loss, str) else float(loss), now)
    finally:
        _last_event = now
    if epoch >= loop.total:
        loop.close()
        del _open[name]


class Epochs:
    """``for epoch in Epochs(range(n), "name")``: :func:`epoch_done` after each item; ``set_postfix(**kw)``
    sets the text shown as the loss (the tqdm-like interface the generative methods use)."""

    def __init__(self, iterable: Iterable[T], desc: str, total: int | None = None) -> None:
        self.iterable, self.desc = iterable, desc
        self.total = int(total if total is not None else len(iterable))  # type: ignore[arg-type]
        self.text: str | None = None

    def set_postfix(self, **values: Any) -> None:
        self.text = ", ".join(f"{k} {v}" for k, v in values.items())

    def __iter__(self) -> Iterator[T]:
        mark_start()
        for i, item in enumerate(self.iterable, start=1):
            yield item
            epoch_done(self.desc, i, self.total, loss=self.text)


def close_all(*, reset_clock: bool = True) -> None:
    """Close every open bar (loops that stopped early); the runner calls this after each fit."""
    global _last_event
    for loop in list(_open.values()):
        loop.close()
    _open.clear()
    if reset_clock:
        _last_event = time.perf_counter()


def mark_start() -> None:
    """Time the next loop's first epoch from now (the runner calls this before each fit)."""
    global _last_event
    _last_event = time.perf_counter()


def status() -> dict[str, Any]:
    """Open loops and their totals (tests)."""
    return {k: v.total for k, v in _open.items()}
