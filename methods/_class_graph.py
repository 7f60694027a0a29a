"""Graphs over classes for the GCN-style methods: a kNN graph over descriptors, and a WordNet hierarchy.

Two sources of class relations:

- :func:`knn_graph`: a k-nearest-neighbour graph over class descriptors (cosine similarity), symmetrised,
  with self loops. Works for every dataset (attributes, word embeddings, synthetic data).
- :func:`wordnet_hierarchy`: the WordNet noun hierarchy (hypernym links) read from a local WordNet 3.0
  database in the Princeton format (Debian package ``wordnet-base``, files under ``/usr/share/wordnet``).
  Optional: it returns ``None`` when the files are absent, and nothing in the suite requires it.

Helpers turn them into what the networks propagate over: :func:`normalized_adjacency`
(``D^-1/2 A D^-1/2``) for GCNZ / SGCN and :func:`hop_matrices` (nodes at exactly k hops, for DGP's dense
propagation).

Limits of the WordNet mapping (documented, not hidden):

- a class name is turned into a WordNet lemma by dropping a numeric prefix (``"002.Laysan_Albatross"``),
  lower-casing and joining words with ``_`` (``"german+shepherd"`` -> ``german_shepherd``); regular plurals
  are tried through WordNet's ``noun.exc`` and a trailing ``s``;
- the **first noun sense** is taken, unless ``within`` names a lemma (e.g. ``"animal"``), in which case the
  first sense below that lemma's senses is preferred. First senses can be wrong: WordNet's first sense
  of "dalmatian" is a person from Dalmatia, not the dog;
- with ``head_fallback=True`` a name not in WordNet is attached as a new leaf under its last word
  (``"laysan_albatross"`` -> under ``albatross``); otherwise it is left unmapped;
- only hypernym (``@``) and instance-hypernym (``@i``) links are used; SUN's scene names and many CUB
  species do not map well. Results on such graphs are not comparable to the papers' ImageNet runs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp

log = logging.getLogger(__name__)

WORDNET_DIRS: tuple[str, ...] = ("/usr/share/wordnet", "/usr/local/share/wordnet", "/usr/share/WordNet-3.0/dict")
"""Where :func:`find_wordnet` looks for ``index.noun`` / ``data.noun`` (first match wins)."""


# --------------------------------------------------------------------------------------------------
# kNN graph and normalisations
# --------------------------------------------------------------------------------------------------


def knn_graph(descriptors: np.ndarray, k: int) -> sp.csr_matrix:
    """(C, C) binary adjacency: each class linked to its ``k`` most cosine-similar classes.

    The graph is symmetrised (an edge if either end chose the other) and has self loops (diagonal 1).

    Args:
        descriptors: (C, A) class descriptors; no all-zero row (cosine is undefined there).
        k: neighbours per class, 1 <= k < C.
    """
    from sklearn.neighbors import kneighbors_graph

    descriptors = np.asarray(descriptors, dtype=np.float64)
    if descriptors.ndim != 2:
        raise ValueError(f"knn_graph: descriptors must be 2-D (C, A), got shape {descriptors.shape}")
    n = descriptors.shape[0]
    if not 1 <= int(k) < n:
        raise ValueError(f"knn_graph: k={k} must be in [1, {n - 1}] for {n} classes")
    zero = np.flatnonzero(np.linalg.norm(descriptors, axis=1) == 0)
    if zero.size:
        raise ValueError(f"knn_graph: descriptor row {int(zero[0])} is all zeros (cosine undefined)")
    adj = kneighbors_graph(descriptors, int(k), mode="connectivity", metric="cosine", include_self=False)
    adj = adj.maximum(adj.T).tolil()
    adj.setdiag(1.0)
    return adj.tocsr().astype(np.float64)


def normalized_adjacency(adj: sp.spmatrix | np.ndarray, *, add_self_loops: bool = False) -> sp.csr_matrix:
    """(N, N) symmetric normalisation ``D^-1/2 A D^-1/2`` with ``D = diag(row sums of A)``.

    Args:
        adj: (N, N) non-negative symmetric adjacency (self loops already in it, as from :func:`knn_graph`).
        add_self_loops: add the identity first (``D^-1/2 (A + I) D^-1/2``, Kipf and Welling's renormalisation).
    """
    adj = sp.csr_matrix(adj, dtype=np.float64)
    if adj.shape[0] != adj.shape[1]:
        raise ValueError(f"normalized_adjacency: adjacency must be square, got {adj.shape}")
    if adj.nnz and adj.data.min() < 0:
        raise ValueError("normalized_adjacency: adjacency has negative weights")
    if add_self_loops:
        adj = adj + sp.identity(adj.shape[0], format="csr")
    degree = np.asarray(adj.sum(axis=1)).ravel()
    with np.errstate(divide="ignore"):
        inv_sqrt = np.where(degree > 0, 1.0 / np.sqrt(degree), 0.0)
    scale = sp.diags(inv_sqrt)
    return (scale @ adj @ scale).tocsr()


def hop_distances(adj: sp.spmatrix | np.ndarray, *, directed: bool = False) -> np.ndarray:
    """(N, N) shortest-path hop counts (``inf`` where unreachable; 0 on the diagonal)."""
    from scipy.sparse.csgraph import shortest_path

    graph = sp.csr_matrix(adj, dtype=np.float64)
    graph = graph - sp.diags(graph.diagonal())  # self loops do not shorten paths
    graph.eliminate_zeros()
    return shortest_path(graph, method="D", directed=directed, unweighted=True)


def hop_matrices(distances: np.ndarray, max_hops: int) -> np.ndarray:
    """(max_hops + 1, N, N) row-normalised indicators of "j is exactly k hops from i" (k = 0 .. max_hops).

    Nodes farther than ``max_hops`` (but reachable) share the last slice, as DGP shares its distance
    weights beyond a cut-off. A row with no node at some distance is all zeros in that slice.
    """
    if max_hops < 1:
        raise ValueError(f"hop_matrices: max_hops must be >= 1, got {max_hops}")
    dist = np.where(np.isfinite(distances), np.minimum(distances, max_hops), -1)
    out = np.stack([(dist == k).astype(np.float64) for k in range(max_hops + 1)])
    counts = out.sum(axis=2, keepdims=True)
    return np.divide(out, counts, out=np.zeros_like(out), where=counts > 0)


# --------------------------------------------------------------------------------------------------
# WordNet
# --------------------------------------------------------------------------------------------------


def find_wordnet(path: str | Path | None = None) -> Path | None:
    """The folder holding WordNet's ``index.noun`` and ``data.noun``, or None if none is installed."""
    candidates = [Path(path)] if path is not None else [Path(p) for p in WORDNET_DIRS]
    for folder in candidates:
        if (folder / "index.noun").is_file() and (folder / "data.noun").is_file():
            return folder
    if path is not None:
        raise FileNotFoundError(f"{path}: no WordNet index.noun / data.noun there")
    return None


class WordNetNouns:
    """Minimal reader of the Princeton WordNet noun database (``index.noun``, ``data.noun``, ``noun.exc``).

    Synsets are identified by their byte offset in ``data.noun`` (WordNet's own ids).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._index: dict[str, list[int]] = {}
        with open(self.folder / "index.noun", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(" "):  # licence header
                    continue
                parts = line.split()
                synset_cnt, ptr_cnt = int(parts[2]), int(parts[3])
                offsets = parts[6 + ptr_cnt: 6 + ptr_cnt + synset_cnt]
                self._index[parts[0]] = [int(o) for o in offsets]
        self._exceptions: dict[str, str] = {}
        exc = self.folder / "noun.exc"
        if exc.is_file():
            for line in exc.read_text(encoding="utf-8", errors="replace").splitlines():
                parts = line.split()
                if len(parts) >= 2:
                    self._exceptions[parts[0]] = parts[1]
        self._data = open(self.folder / "data.noun", "rb")
        self._cache: dict[int, tuple[str, list[int]]] = {}

    def close(self) -> None:
        self._data.close()

    def senses(self, lemma: str) -> list[int]:
        """Synset offsets of ``lemma``'s noun senses, most frequent first (empty when unknown)."""
        lemma = lemma.lower()
        for form in (lemma, self._exceptions.get(lemma), lemma[:-1] if lemma.endswith("s") else None):
            if form and form in self._index:
                return self._index[form]
        return []

    def _read(self, offset: int) -> tuple[str, list[int]]:
        if offset not in self._cache:
            self._data.seek(offset)
            fields = self._data.readline().decode("utf-8", errors="replace").split(" | ")[0].split()
            if not fields or int(fields[0]) != offset:
                raise ValueError(f"{self.folder / 'data.noun'}: no synset at byte offset {offset}")
            n_words = int(fields[3], 16)
            word = fields[4]
            pos = 4 + 2 * n_words
            n_ptrs = int(fields[pos])
            parents = []
            for i in range(n_ptrs):
                symbol, target, target_pos = fields[pos + 1 + 4 * i: pos + 4 + 4 * i]
                if symbol in ("@", "@i") and target_pos == "n":
                    parents.append(int(target))
            self._cache[offset] = (word, parents)
        return self._cache[offset]

    def name(self, offset: int) -> str:
        """The synset's first word (e.g. ``"dog"``)."""
        return self._read(offset)[0]

    def hypernyms(self, offset: int) -> list[int]:
        """Direct hypernyms (and instance hypernyms) of a synset."""
        return self._read(offset)[1]

    def ancestors(self, offset: int) -> set[int]:
        """Every synset above ``offset`` (not including it)."""
        seen: set[int] = set()
        todo = list(self.hypernyms(offset))
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(self.hypernyms(node))
        return seen


def class_name_to_lemma(name: str) -> str:
    """WordNet lemma form of a dataset class name.

    ``"german+shepherd"`` -> ``"german_shepherd"``; ``"002.Laysan_Albatross"`` -> ``"laysan_albatross"``;
    ``"access road"`` -> ``"access_road"``.
    """
    name = re.sub(r"^\d+\.", "", str(name).strip())
    return re.sub(r"[\s+\-]+", "_", name).lower()


@dataclass(frozen=True)
class ClassHierarchy:
    """A class hierarchy: the dataset's classes plus the WordNet synsets above them.

    Node ``i < n_classes`` is class ``i`` (descriptor row order); nodes from ``n_classes`` on are
    ancestor synsets. ``parents`` holds (child, parent) edges between node indices.

    Attributes:
        n_classes: C.
        node_names: (N,) a name per node (the class name, or the synset's first word).
        synsets: (N,) WordNet offset of each node, or -1 for classes attached by the head-noun fallback.
        parents: (E, 2) int array of (child, parent) node pairs.
        unmapped: class names that could not be placed (they are isolated nodes).
        source: the WordNet folder read.
    """

    n_classes: int
    node_names: tuple[str, ...]
    synsets: np.ndarray
    parents: np.ndarray
    unmapped: tuple[str, ...] = ()
    source: str = ""
    notes: dict = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return len(self.node_names)

    def adjacency(self) -> sp.csr_matrix:
        """(N, N) undirected 0/1 adjacency of the hierarchy, with self loops."""
        n = self.n_nodes
        child, parent = self.parents[:, 0], self.parents[:, 1]
        ones = np.ones(len(child))
        adj = sp.coo_matrix((ones, (child, parent)), shape=(n, n)).tocsr()
        adj = (adj + adj.T).tolil()
        adj.setdiag(1.0)
        adj = adj.tocsr()
        adj.data[:] = 1.0
        return adj

    def ancestor_distances(self) -> np.ndarray:
        """(N, N) hops from node i up to its ancestor j (``inf`` if j is not an ancestor; 0 on the diagonal).

        The transpose gives descendant distances.
        """
        n = self.n_nodes
        up = sp.coo_matrix((np.ones(len(self.parents)), (self.parents[:, 0], self.parents[:, 1])),
                           shape=(n, n)).tocsr()
        return hop_distances(up, directed=True)

    def node_descriptors(self, descriptors: np.ndarray) -> np.ndarray:
        """(N, A) descriptors per node: a class's own row; an ancestor's is the mean of its class
        descendants' rows (WordNet synsets have no attributes of their own)."""
        dist = self.ancestor_distances()
        below = np.isfinite(dist[: self.n_classes])  # (C, N): class i is below node j
        counts = below.sum(axis=0)
        out = (below.T.astype(np.float64) @ descriptors) / np.maximum(counts, 1)[:, None]
        out[: self.n_classes] = descriptors
        return out


def wordnet_hierarchy(
    class_names: Sequence[str],
    *,
    within: str | None = None,
    head_fallback: bool = False,
    path: str | Path | None = None,
) -> ClassHierarchy | None:
    """The WordNet hierarchy above ``class_names``, or None when no WordNet database is installed.

    Args:
        class_names: (C,) dataset class names (see :func:`class_name_to_lemma` for the forms understood).
        within: optional lemma (e.g. ``"animal"``): prefer the first sense of a name that lies below one
            of this lemma's senses; default: the first noun sense (see the module docstring's limits).
        head_fallback: attach a name not found in WordNet as a new leaf under its last word's synset.
        path: a WordNet dict folder; default: search :data:`WORDNET_DIRS`.
    """
    folder = find_wordnet(path)
    if folder is None:
        log.info("WordNet not found in %s; no class hierarchy", ", ".join(WORDNET_DIRS))
        return None
    wn = WordNetNouns(folder)
    try:
        roots: set[int] = set(wn.senses(within)) if within else set()
        if within and not roots:
            raise ValueError(f"wordnet_hierarchy: within={within!r} is not a WordNet noun")

        def pick(senses: list[int]) -> int | None:
            if not senses:
                return None
            if roots:
                for s in senses:
                    if s in roots or wn.ancestors(s) & roots:
                        return s
            return senses[0]

        C = len(class_names)
        node_names = [str(n) for n in class_names]
        synsets = [-1] * C
        node_of: dict[int, int] = {}
        edges: list[tuple[int, int]] = []
        unmapped: list[str] = []
        attach: dict[int, int] = {}  # class node -> synset it hangs under (fallback and duplicate synsets)
        for i, name in enumerate(class_names):
            lemma = class_name_to_lemma(name)
            synset = pick(wn.senses(lemma))
            if synset is not None and synset not in node_of:
                synsets[i] = synset
                node_of[synset] = i
                continue
            if synset is not None:  # two classes on one synset: the second hangs below it
                attach[i] = synset
                continue
            head = pick(wn.senses(lemma.split("_")[-1])) if head_fallback and "_" in lemma else None
            if head is None:
                unmapped.append(str(name))
            else:
                attach[i] = head

        def node(synset: int) -> int:
            if synset not in node_of:
                node_of[synset] = len(node_names)
                node_names.append(wn.name(synset))
                synsets.append(synset)
            return node_of[synset]

        todo = [s for s in synsets[:C] if s >= 0] + list(attach.values())
        for i, synset in attach.items():
            edges.append((i, node(synset)))
        done: set[int] = set()
        while todo:
            synset = todo.pop()
            if synset in done:
                continue
            done.add(synset)
            child = node(synset)
            for parent in wn.hypernyms(synset):
                edges.append((child, node(parent)))
                todo.append(parent)
    finally:
        wn.close()
    if unmapped:
        log.warning("WordNet: %d of %d classes not found (e.g. %r)", len(unmapped), C, unmapped[0])
    parents = np.array(sorted(set(edges)), dtype=np.int64).reshape(-1, 2)
    return ClassHierarchy(
        n_classes=C,
        node_names=tuple(node_names),
        synsets=np.asarray(synsets, dtype=np.int64),
        parents=parents,
        unmapped=tuple(unmapped),
        source=str(folder),
        notes={"within": within, "head_fallback": head_fallback},
    )
