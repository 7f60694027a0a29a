"""The base classifier's trainer written plainly with autograd and ``torch.optim.Adam``: the reference the
lean trainer (:func:`zslbench.base_classifier.train_linear_softmax`) must equal to float tolerance."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from zslbench.base_classifier import BaseClassifierSettings
from zslbench.metrics import per_class_accuracy
from zslbench.torch_runtime import adam


def train_linear_softmax_autograd(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    settings: BaseClassifierSettings,
    seed: int,
    *,
    device: str = "cpu",
    select_on: tuple[np.ndarray, np.ndarray] | None = None,
    earliest_best: bool = False,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The reference: :func:`zslbench.base_classifier.train_linear_softmax` written with autograd and ``torch.optim.Adam``.

    Used by the tests (the lean trainer must equal it to float tolerance) and by
    ``benchmarks/bench_families.py`` (speed side by side). Same arguments and return values.
    """
    import torch

    dev = torch.device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    Xt = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=dev)
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64), device=dev)
    n, d = Xt.shape
    weight = (torch.randn(n_classes, d, generator=gen) * settings.init_std).to(dev).requires_grad_(True)
    bias = torch.zeros(n_classes, device=dev, requires_grad=True)
    opt = adam([weight, bias], lr=settings.lr)
    loss_fn = torch.nn.CrossEntropyLoss()

    if select_on is not None:
        Xs = torch.as_tensor(np.ascontiguousarray(select_on[0], dtype=np.float32), device=dev)
        ys = np.asarray(select_on[1])
    best = (-1.0, 0, None, None)
    bs = int(settings.batch_size)
    start = time.perf_counter()
    for epoch in range(1, int(settings.epochs) + 1):
        order = torch.randperm(n, generator=gen).to(dev)
        for batch in torch.split(order, bs):
            logits = torch.addmm(bias, Xt[batch], weight.t())
            loss = loss_fn(logits, yt[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if select_on is not None:
            with torch.no_grad():
                pred = torch.addmm(bias, Xs, weight.t()).argmax(1).cpu().numpy()
            acc = float(np.nanmean(per_class_accuracy(ys, pred)))
            if acc > best[0] or (acc == best[0] and not earliest_best):
                best = (acc, epoch, weight.detach().clone(), bias.detach().clone())
    seconds = time.perf_counter() - start
    if select_on is None:
        chosen_epoch, acc, w, b = int(settings.epochs), None, weight.detach(), bias.detach()
    else:
        acc, chosen_epoch, w, b = best
    info = {
        "chosen_epoch": int(chosen_epoch),
        "selection_accuracy": acc,
        "epochs_per_second": float(settings.epochs) / max(seconds, 1e-9),
    }
    return (w.cpu().numpy().astype(np.float64), b.cpu().numpy().astype(np.float64), info)
