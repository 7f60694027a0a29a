"""The base classifier of the image-free family: a linear softmax classifier over a split's seen classes.

Image-free methods (ICIS and its baselines) never see an image: the harness trains this classifier on the
split's training images and hands the methods only its weight rows ``[W | b]``. Training follows the
ICIS papers' settings (Adam, lr 1e-4, 100 epochs, cross-entropy, weights N(0, 0.02), bias 0); which
epoch's weights are kept is the ``selection`` setting:

- ``"last"`` (default, honest): the last epoch;
- ``"holdout"``: a seeded share of each seen class's training images is held out and the epoch with the
  best mean per-class accuracy on them is kept (the classifier then trains on the remaining images);
- ``"test_seen"``: the ICIS authors' procedure, the first epoch with the best accuracy on test-seen images. It
  uses test data, so the runner passes ``test_seen=(X, y)`` only in the labelled ``paper`` procedure and
  the info dict says ``"uses_test_data": True``.

Trained classifiers are memoised in-process and, with ``cache_dir``, cached on disk (one ``.npz`` per key,
written atomically, verified by a checksum on load and rebuilt when unreadable). The key covers everything
that changes the weights: a hash of the training images and labels, the exact training indices, the
classes, the settings, the seed, the device type and the torch version (and the test-seen images of the
``paper`` procedure). It does not name the dataset: two datasets whose training images are the same bytes
(a generator version that changes only test-unseen images) share their classifiers. Nor does it name the
CPU: rounding differs between CPU models, so the info dict also carries ``weights_sha256``, the rows' hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zslbench.data.dataset import Dataset
from zslbench.method import LinearClassifier
from zslbench.metrics import per_class_accuracy
from zslbench.protocol import Split
from zslbench.records import write_atomically
from zslbench.torch_runtime import torch_threads

log = logging.getLogger(__name__)

BASE_CLASSIFIER_VERSION = 3  # v3: test_seen selection keeps the earliest best epoch (the ICIS code's rule)
"""Bump when the training code changes the weights it produces (it is part of every cache key)."""
SELECTIONS: tuple[str, ...] = ("last", "holdout", "test_seen")
_MEMO_SIZE = 8
_MEMO: "OrderedDict[str, tuple[LinearClassifier, dict[str, Any]]]" = OrderedDict()


@dataclass(frozen=True)
class BaseClassifierSettings:
    """How the base classifier is trained (paper defaults; ``batch_size`` follows the injection method's).

    Attributes:
        epochs: passes over the training images.
        lr: Adam learning rate (betas 0.9, 0.999).
        batch_size: images per step (16 on CUB / SUN, 20 on AWA2 in the ICIS papers).
        selection: which epoch is kept: "last", "holdout" or "test_seen" (see the module docstring).
        holdout: share of each class's training images held out when ``selection == "holdout"``.
        init_std: std of the normal initialisation of the weights (bias starts at 0).
        center_rows: subtract the mean row from ``[W | b]`` after training. Softmax predictions do not
            change when one vector is added to every row, so this only picks the canonical (minimum-norm)
            representative of the same classifier; without it, Adam drifts along that null direction
            (on synth-awa2, 99.7% of the rows' energy ends up in one shared direction), and image-free
            methods, which learn from the rows, see mostly the drift. The ICIS code uses raw rows: the
            paper procedure turns this off.
    """

    epochs: int = 100
    lr: float = 1e-4
    batch_size: int = 16
    selection: str = "last"
    holdout: float = 0.1
    init_std: float = 0.02
    center_rows: bool = True

    def __post_init__(self) -> None:
        if self.selection not in SELECTIONS:
            raise ValueError(
                f"BaseClassifierSettings.selection must be one of {SELECTIONS}, got {self.selection!r}")
        if int(self.epochs) < 1:
            raise ValueError(f"BaseClassifierSettings.epochs must be >= 1, got {self.epochs}")
        if int(self.batch_size) < 1:
            raise ValueError(f"BaseClassifierSettings.batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"BaseClassifierSettings.lr must be > 0, got {self.lr}")
        if not 0.0 < self.holdout < 1.0:
            raise ValueError(f"BaseClassifierSettings.holdout must be in (0, 1), got {self.holdout}")
        if not self.init_std >= 0:
            raise ValueError(f"BaseClassifierSettings.init_std must be >= 0, got {self.init_std}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


def _holdout_split(labels: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit positions, held-out positions) into ``labels``: ``share`` of each class (>= 1 image held
    out for classes with at least 2 images; a class with one image keeps it for training)."""
    rng = np.random.default_rng([seed, 4241])
    held = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if idx.size < 2:
            continue
        n_hold = min(idx.size - 1, max(1, int(round(share * idx.size))))
        held.append(rng.choice(idx, size=n_hold, replace=False))
    held_idx = np.sort(np.concatenate(held)) if held else np.empty(0, dtype=np.int64)
    return np.setdiff1d(np.arange(labels.size), held_idx), held_idx


def train_linear_softmax(
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
    """Train ``logits = X W^T + b`` with Adam and cross-entropy on shuffled mini-batches.

    The same model, initialisation, batch order and Adam update as :func:`zslbench.base_classifier_reference.train_linear_softmax_autograd`
    (the plain autograd version, kept as the reference), without autograd or optimiser objects: the
    gradient of the mean softmax cross-entropy of a batch is ``G = (softmax(logits) - onehot(y)) / B``,
    so ``dW = G^T X_b`` and ``db = sum(G)``, and one fused in-place Adam call updates W and b.

    Args:
        X: (n, d) training features.
        y: (n,) labels in [0, n_classes).
        n_classes: K.
        settings: epochs, lr, batch size, init std (``selection`` is handled by the caller via select_on).
        seed: seeds the initialisation and the shuffling (one ``torch.Generator``).
        device: torch device.
        select_on: (X_sel (m, d), y_sel (m,)) images on which each epoch's mean per-class accuracy is
            measured; the best epoch's weights are returned (ties: the later epoch, or the earlier with
            ``earliest_best``, as the ICIS code's test-seen selection does). None: last epoch.

    Returns:
        weight (K, d) float64, bias (K,) float64, info with ``chosen_epoch`` (1-based),
        ``selection_accuracy`` (None without select_on) and ``epochs_per_second``.
    """
    import torch

    from zslbench.progress import epoch_done, mark_start, progress_active

    dev = torch.device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    Xt = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=dev)
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64), device=dev)
    n, d = Xt.shape
    weight = (torch.randn(n_classes, d, generator=gen) * settings.init_std).to(dev)
    bias = torch.zeros(n_classes, device=dev)
    params, grads = [weight, bias], [torch.empty_like(weight), torch.empty_like(bias)]
    adam = _InPlaceAdam(params, lr=settings.lr)
    rows = torch.arange(int(settings.batch_size), device=dev)
    track_loss = progress_active()

    if select_on is not None:
        Xs = torch.as_tensor(np.ascontiguousarray(select_on[0], dtype=np.float32), device=dev)
        ys = np.asarray(select_on[1])
    best = (-1.0, 0, None, None)
    bs = int(settings.batch_size)
    start = time.perf_counter()
    mark_start()
    for epoch in range(1, int(settings.epochs) + 1):
        order = torch.randperm(n, generator=gen).to(dev)
        loss_sum = torch.zeros((), device=dev) if track_loss else None
        for batch in torch.split(order, bs):
            xb, yb = Xt.index_select(0, batch), yt.index_select(0, batch)
            probs = torch.softmax(torch.addmm(bias, xb, weight.t()), dim=1)  # (B, K)
            r = rows[:batch.numel()]
            if track_loss:
                loss_sum -= probs[r, yb].log().sum()
            probs[r, yb] -= 1.0
            probs.div_(batch.numel())  # G: gradient of the batch-mean loss w.r.t. the logits
            torch.mm(probs.t(), xb, out=grads[0])
            torch.sum(probs, dim=0, out=grads[1])
            adam.step(grads)
        if select_on is not None:
            pred = torch.addmm(bias, Xs, weight.t()).argmax(1).cpu().numpy()
            acc = float(np.nanmean(per_class_accuracy(ys, pred)))
            if acc > best[0] or (acc == best[0] and not earliest_best):
                best = (acc, epoch, weight.clone(), bias.clone())
        epoch_done("base classifier", epoch, int(settings.epochs),
                   loss=float(loss_sum) / n if track_loss else None)
    seconds = time.perf_counter() - start
    if select_on is None:
        chosen_epoch, acc, w, b = int(settings.epochs), None, weight, bias
    else:
        acc, chosen_epoch, w, b = best
    info = {
        "chosen_epoch": int(chosen_epoch),
        "selection_accuracy": acc,
        "epochs_per_second": float(settings.epochs) / max(seconds, 1e-9),
    }
    return (w.cpu().numpy().astype(np.float64), b.cpu().numpy().astype(np.float64), info)


class _InPlaceAdam:
    """Adam (betas 0.9 / 0.999, eps 1e-8, no weight decay) on plain tensors, updated in place.

    ``torch.optim.adam.adam`` with ``fused=True`` (the kernel ``torch.optim.Adam(fused=True)`` runs) when
    the device supports it, else the same update as explicit in-place tensor ops. No Optimizer object, no
    ``.grad`` fields, no per-step hooks.
    """

    def __init__(self, params: list, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        import torch

        self.params, self.lr, self.betas, self.eps = params, float(lr), betas, float(eps)
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in params]
        self.t = 0
        self.fused = True

    def step(self, grads: list) -> None:
        import torch

        self.t += 1
        b1, b2 = self.betas
        if self.fused:
            for s in self.steps:
                s.fill_(self.t)
            try:
                torch._fused_adam_(self.params, grads, self.m, self.v, [], self.steps, amsgrad=False,
                                   lr=self.lr, beta1=b1, beta2=b2, weight_decay=0.0, eps=self.eps,
                                   maximize=False)
                return
            except (RuntimeError, TypeError, AttributeError, NotImplementedError):
                if self.t > 1:  # the fused kernel worked before: a real error
                    raise
                self.fused = False
        bc1, bc2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m.lerp_(g, 1.0 - b1)
            v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
            p.addcdiv_(m, v.sqrt().div_(bc2 ** 0.5).add_(self.eps), value=-self.lr / bc1)


# --------------------------------------------------------------------------------------------------
# The harness entry point, with in-process memo and on-disk cache
# --------------------------------------------------------------------------------------------------


def _sha256(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def cache_key(
    ds: Dataset,
    split: Split,
    settings: BaseClassifierSettings,
    seed: int,
    *,
    device: str = "cpu",
    test_seen: tuple[np.ndarray, np.ndarray] | None = None,
) -> str:
    """A hex digest of everything that changes the trained weights (see the module docstring)."""
    import torch

    train = np.asarray(split.train, dtype=np.int64)
    payload = {
        "version": BASE_CLASSIFIER_VERSION,
        "train_indices": _sha256(train),
        "train_data": _sha256(ds.features[train], ds.labels[train]),
        "classes": [int(c) for c in split.seen],
        "settings": settings.to_json(),
        "seed": int(seed),
        "device": str(device).split(":")[0],
        "torch": torch.__version__,
        "test_seen": _sha256(*test_seen) if test_seen is not None else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _weights_hash(clf: LinearClassifier) -> str:
    return _sha256(clf.weight, clf.bias, clf.classes)


def _frozen(clf: LinearClassifier) -> LinearClassifier:
    """The classifier with read-only arrays (it is shared between methods through the memo)."""
    arrays = [np.array(a, copy=True) for a in (clf.weight, clf.bias, clf.classes)]
    for a in arrays:
        a.flags.writeable = False
    return LinearClassifier(*arrays)


def _load_cached(path: Path, key: str) -> tuple[LinearClassifier, dict[str, Any]] | None:
    """The cached entry at ``path``, or None if it is missing, unreadable, for another key or corrupt."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            weight, bias, classes = z["weight"], z["bias"], z["classes"]
            meta = json.loads(str(z["meta"]))
        if meta.get("key") != key:
            raise ValueError("the entry belongs to another key")
        if meta.get("checksum") != _sha256(weight, bias, classes):
            raise ValueError("checksum mismatch")
        if weight.ndim != 2 or bias.shape != (weight.shape[0],) or classes.shape != bias.shape:
            raise ValueError(f"inconsistent shapes {weight.shape}, {bias.shape}, {classes.shape}")
    except Exception as err:  # noqa: BLE001 - any failure to read means: rebuild
        log.warning("base classifier cache entry %s is unreadable (%s: %s); rebuilding", path,
                    type(err).__name__, err)
        return None
    return LinearClassifier(weight, bias, classes), meta["info"]


def _save_cached(path: Path, key: str, clf: LinearClassifier, info: dict[str, Any]) -> None:
    """Write the entry atomically (:func:`zslbench.records.write_atomically`)."""
    meta = {"key": key, "checksum": _weights_hash(clf), "info": info}
    buffer = io.BytesIO()
    np.savez(buffer, weight=clf.weight, bias=clf.bias, classes=clf.classes, meta=np.array(json.dumps(meta)))
    write_atomically(path, buffer.getvalue())


def clear_memo() -> None:
    """Forget the in-process memo (tests; the on-disk cache is untouched)."""
    _MEMO.clear()


def get_base_classifier(
    ds: Dataset,
    split: Split,
    *,
    settings: BaseClassifierSettings = BaseClassifierSettings(),
    seed: int,
    device: str = "cpu",
    cache_dir: str | os.PathLike[str] | None = None,
    test_seen: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[LinearClassifier, dict[str, Any]]:
    """Train (or fetch) the base classifier of ``split``: rows for ``split.seen`` from ``split.train``.

    Args:
        ds: the dataset.
        split: a validation or test split (after :func:`zslbench.protocol.apply_setting`).
        settings: training settings, including the epoch selection rule.
        seed: seeds initialisation, shuffling and the hold-out draw.
        device: torch device.
        cache_dir: folder of the on-disk cache (entries under ``<cache_dir>/base_classifier/``); None:
            in-process memo only.
        test_seen: (X (m, d), y (m,) global class indices) test-seen images; required by, and only
            accepted with, ``selection="test_seen"`` (the labelled ``paper`` procedure).

    Returns:
        The classifier (``classes == split.seen``, arrays read-only) and an info dict for the record:
        settings, selection, uses_test_data, chosen_epoch, selection_accuracy, n_train_images,
        n_selection_images, train_seconds, epochs_per_second, seed, cache_key, cache_hit, cache and
        weights_sha256 (hash of ``weight``, ``bias`` and ``classes``: the rows themselves).
    """
    if settings.selection == "test_seen":
        if test_seen is None:
            raise ValueError("base classifier: selection='test_seen' needs test_seen=(X, y) (paper procedure only)")
    elif test_seen is not None:
        raise ValueError(
            f"base classifier: test_seen data was passed with selection={settings.selection!r}; "
            "test images may only be used by the labelled selection='test_seen' (paper procedure)"
        )
    seen = np.asarray(split.seen)
    train = np.asarray(split.train)
    if train.size == 0 or seen.size == 0:
        raise ValueError(f"base classifier: the {split.kind} split of {ds.name} has no training images")
    key = cache_key(ds, split, settings, seed, device=device, test_seen=test_seen)
    if key in _MEMO:
        _MEMO.move_to_end(key)
        clf, info = _MEMO[key]
        return clf, {**info, "cache_hit": True, "cache": "memory", "weights_sha256": _weights_hash(clf)}

    path = Path(cache_dir) / "base_classifier" / f"{key}.npz" if cache_dir is not None else None
    cached = _load_cached(path, key) if path is not None else None
    if cached is not None:
        clf, info = _frozen(cached[0]), cached[1]
        _remember(key, clf, info)
        return clf, {**info, "cache_hit": True, "cache": "disk", "weights_sha256": _weights_hash(clf)}

    labels = ds.labels[train]
    pos = np.searchsorted(seen, labels)
    if (pos >= seen.size).any() or not np.array_equal(seen[np.minimum(pos, seen.size - 1)], labels):
        raise ValueError(f"base classifier: {ds.name} {split.kind} split has training labels outside split.seen")
    X = ds.features[train]
    select_on = None
    if settings.selection == "holdout":
        fit_pos, held_pos = _holdout_split(pos, settings.holdout, seed)
        select_on = (X[held_pos], pos[held_pos])
        X, pos = X[fit_pos], pos[fit_pos]
    elif settings.selection == "test_seen":
        Xs, ys = np.asarray(test_seen[0]), np.asarray(test_seen[1])
        if Xs.ndim != 2 or Xs.shape[1] != X.shape[1] or ys.shape != (Xs.shape[0],):
            raise ValueError(f"base classifier: test_seen has shapes {Xs.shape}, {ys.shape}; "
                             f"expected (m, {X.shape[1]}) and (m,)")
        if not np.isin(ys, seen).all():
            raise ValueError("base classifier: test_seen labels must be seen classes of the split")
        select_on = (Xs, np.searchsorted(seen, ys))

    start = time.perf_counter()
    with torch_threads(1 if str(device).startswith("cpu") else None):
        weight, bias, train_info = train_linear_softmax(X, pos, seen.size, settings, seed, device=device,
                                                        select_on=select_on,
                                                        earliest_best=settings.selection == "test_seen")
    seconds = time.perf_counter() - start
    if settings.center_rows:  # same predictions, canonical rows (see BaseClassifierSettings)
        weight, bias = weight - weight.mean(axis=0), bias - bias.mean()
    clf = _frozen(LinearClassifier(weight, bias, seen.astype(np.int64)))
    info = {
        "settings": settings.to_json(),
        "selection": settings.selection,
        "uses_test_data": settings.selection == "test_seen",
        "rows_centred": bool(settings.center_rows),
        "chosen_epoch": train_info["chosen_epoch"],
        "selection_accuracy": train_info["selection_accuracy"],
        "n_train_images": int(X.shape[0]),
        "n_selection_images": int(select_on[0].shape[0]) if select_on is not None else 0,
        "train_seconds": seconds,
        "epochs_per_second": train_info["epochs_per_second"],
        "seed": int(seed),
        "device": str(device),
        "cache_key": key,
    }
    log.info("base classifier for %s (%s split): %d images, %d classes, %.1f s, epoch %d kept (%s)",
             ds.name, split.kind, X.shape[0], seen.size, seconds, info["chosen_epoch"], settings.selection)
    if path is not None:
        _save_cached(path, key, clf, info)
    _remember(key, clf, info)
    return clf, {**info, "cache_hit": False, "cache": None, "weights_sha256": _weights_hash(clf)}


def _remember(key: str, clf: LinearClassifier, info: dict[str, Any]) -> None:
    _MEMO[key] = (clf, info)
    _MEMO.move_to_end(key)
    while len(_MEMO) > _MEMO_SIZE:
        _MEMO.popitem(last=False)
