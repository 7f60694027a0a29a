"""Class graphs (kNN, normalised adjacency, hops, WordNet) and the GCN weight predictors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from zslbench.base_classifier import BaseClassifierSettings, get_base_classifier
from zslbench.methods._class_graph import (
    class_name_to_lemma,
    find_wordnet,
    hop_distances,
    hop_matrices,
    knn_graph,
    normalized_adjacency,
    wordnet_hierarchy,
)
from zslbench.method import LinearClassifier, TrainView
from zslbench.protocol import test_split, train_view
from zslbench.registry import METHODS
from zslbench.runner import evaluate_method

GCNS = ("gcnz", "sgcn", "dgp")
BASE = BaseClassifierSettings(epochs=30, lr=1e-3, batch_size=16)
needs_wordnet = pytest.mark.skipif(
    find_wordnet() is None, reason="no local WordNet (Debian package 'wordnet-base'); optional"
)


@pytest.fixture(scope="module")
def base(tiny):
    return get_base_classifier(tiny, test_split(tiny), settings=BASE, seed=0)[0]


# ---- graphs -------------------------------------------------------------------------------------


def test_normalized_adjacency_by_hand():
    """Path 0-1-2-3 with self loops: degrees (2, 3, 3, 2); entry (i, j) = 1 / sqrt(d_i d_j)."""
    A = np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]], dtype=float)
    s6 = 1 / np.sqrt(6)
    expected = np.array([
        [1 / 2, s6, 0, 0],
        [s6, 1 / 3, 1 / 3, 0],
        [0, 1 / 3, 1 / 3, s6],
        [0, 0, s6, 1 / 2],
    ])
    got = normalized_adjacency(A, add_self_loops=True).toarray()
    np.testing.assert_allclose(got, expected, atol=1e-12)
    np.testing.assert_allclose(normalized_adjacency(A + np.eye(4)).toarray(), expected, atol=1e-12)
    np.testing.assert_allclose(got, got.T)
    eig = np.linalg.eigvalsh(got)
    assert eig.min() >= -1 - 1e-12 and eig.max() <= 1 + 1e-12
    assert eig.max() == pytest.approx(1.0)  # a connected graph's D^-1/2 (A+I) D^-1/2 has top eigenvalue 1


def test_knn_graph_neighbours_symmetry_self_loops():
    # two tight pairs far apart in angle: with k = 1 each class links to its partner only
    D = np.array([[1.0, 0.0, 0.0], [0.95, 0.05, 0.0], [0.0, 0.0, 1.0], [0.0, 0.1, 0.9]])
    A = knn_graph(D, 1).toarray()
    np.testing.assert_array_equal(A, [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]])
    rng = np.random.default_rng(0)
    A = knn_graph(rng.random((30, 8)), 4)
    assert (A != A.T).nnz == 0
    np.testing.assert_array_equal(A.diagonal(), 1.0)
    assert (np.diff(A.indptr) >= 5).all()  # k neighbours + self, more where symmetrised
    P = normalized_adjacency(A).toarray()
    eig = np.linalg.eigvalsh(P)
    assert eig.min() >= -1 - 1e-9 and eig.max() <= 1 + 1e-9


def test_knn_graph_errors():
    with pytest.raises(ValueError, match="k=5"):
        knn_graph(np.eye(4), 5)
    with pytest.raises(ValueError, match="row 1 is all zeros"):
        knn_graph(np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]), 1)


def test_hops_on_a_path():
    A = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 1]], dtype=float))
    dist = hop_distances(A)
    np.testing.assert_array_equal(dist[0], [0, 1, 2, 3])
    M = hop_matrices(dist, 2)  # hops 0, 1, >= 2
    assert M.shape == (3, 4, 4)
    np.testing.assert_array_equal(M[0], np.eye(4))
    np.testing.assert_allclose(M[1][1], [0.5, 0, 0.5, 0])
    np.testing.assert_allclose(M[2][0], [0, 0, 0.5, 0.5])  # 2 and 3 hops share the last slice


def test_class_name_to_lemma():
    assert class_name_to_lemma("german+shepherd") == "german_shepherd"
    assert class_name_to_lemma("002.Laysan_Albatross") == "laysan_albatross"
    assert class_name_to_lemma("access road") == "access_road"


@needs_wordnet
def test_wordnet_hierarchy_awa2_names():
    names = ["german+shepherd", "dalmatian", "persian+cat", "killer+whale", "blue+whale"]
    h = wordnet_hierarchy(names, within="animal")
    assert h is not None and h.unmapped == ()
    assert h.n_classes == 5 and h.n_nodes > 5
    up = h.ancestor_distances()
    dog = h.node_names.index("dog")
    assert np.isfinite(up[0, dog]) and np.isfinite(up[1, dog])  # both dogs are below "dog"
    assert not np.isfinite(up[2, dog])  # the cat is not
    assert not np.isfinite(up[dog, 0])  # distances only go upwards
    desc = np.eye(5)
    nodes = h.node_descriptors(desc)
    np.testing.assert_allclose(nodes[dog], [0.5, 0.5, 0, 0, 0])
    # the documented limit: without `within`, the first sense of "dalmatian" is a person, not the dog
    first = wordnet_hierarchy(names)
    first_up = first.ancestor_distances()
    dalmatian_above = {first.node_names[j] for j in np.flatnonzero(np.isfinite(first_up[1]))}
    assert "dog" not in dalmatian_above and "person" in dalmatian_above


@needs_wordnet
def test_wordnet_unknown_names_are_reported():
    h = wordnet_hierarchy(["synthetic_class_000", "horse"])
    assert h.unmapped == ("synthetic_class_000",)


def test_wordnet_absent_returns_none(tmp_path):
    with pytest.raises(FileNotFoundError, match="no WordNet"):
        find_wordnet(tmp_path)
    import zslbench.methods._class_graph as cg

    saved = cg.WORDNET_DIRS
    try:
        cg.WORDNET_DIRS = (str(tmp_path),)
        assert wordnet_hierarchy(["horse"]) is None
    finally:
        cg.WORDNET_DIRS = saved


# ---- methods ------------------------------------------------------------------------------------


def test_image_free_view_carries_no_images(tiny, base):
    view = train_view(tiny, test_split(tiny), access="image_free", base=base)
    assert view.features is None and view.labels is None
    assert view.seen_targets().shape == (len(view.seen), tiny.features.shape[1] + 1)


@pytest.mark.parametrize("name", GCNS)
def test_beats_chance_and_rescales(name, tiny, base):
    cls = METHODS.get(name)
    split = test_split(tiny)
    method = cls(**cls.test_params)
    metrics = evaluate_method(method, tiny, split, base=base, rng=np.random.default_rng(0)).metrics()
    assert metrics["zsl_top1"] > 1.5 / len(split.unseen), metrics
    rows = method.classifier_.augmented
    n_seen = len(base.classes)
    np.testing.assert_array_equal(rows[:n_seen], base.augmented)  # seen rows are the base classifier's
    # default: the seen mean row plus unit-norm predictions scaled to the centred seen rows' mean norm
    mean_row = base.augmented.mean(axis=0)
    np.testing.assert_allclose(method.target_offset_, mean_row)
    seen_norm = np.linalg.norm(base.augmented - mean_row, axis=1).mean()
    np.testing.assert_allclose(np.linalg.norm(rows[n_seen:] - mean_row, axis=1), seen_norm, rtol=1e-5)
    info = method.record_info()
    assert info["graph"]["graph"] == "knn" and info["graph"]["k"] == cls.test_params["k"]
    assert method.loss_history_[-1] < method.loss_history_[0]


def _mean_pairwise_cosine(rows: np.ndarray) -> float:
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    gram = unit @ unit.T
    n = len(rows)
    return float((gram.sum() - n) / (n * (n - 1)))


@pytest.mark.parametrize("params", ["defaults", "test_params"])
@pytest.mark.parametrize("name", GCNS)
def test_no_collapse_and_unseen_recognised_in_gzsl(name, params, tiny, base):
    """Version 1's defaults collapsed: every unseen row nearly the same vector (gcnz: mean cosine 0.998
    on synth-tiny) and GZSL unseen accuracy 0 on the synthetic benchmarks (seen rows always won). The
    predicted unseen rows must differ and win some images, with the defaults and the test settings."""
    cls = METHODS.get(name)
    split = test_split(tiny)
    method = cls(**(cls.test_params if params == "test_params" else {}))
    metrics = evaluate_method(method, tiny, split, base=base, rng=np.random.default_rng(0)).metrics()
    unseen_rows = method.classifier_.augmented[len(base.classes):]
    assert _mean_pairwise_cosine(unseen_rows) < 0.9
    assert metrics["gzsl_unseen"] > 0.0, metrics
    assert metrics["gzsl_seen"] > 0.0, metrics


def test_paper_preset_is_the_published_setup():
    for name in GCNS:
        cls = METHODS.get(name)
        paper = cls(**cls.presets["paper"])
        assert paper.dropout == 0.5 and paper.weight_decay == 5e-4 and paper.lr == 1e-3
        assert not paper.center and not paper.center_targets and paper.self_weight == 1.0
        assert paper.loss == "cosine" and not paper.output_span
        assert cls.version == (4 if name == "gcnz" else 3)
    gcnz = METHODS.get("gcnz")(**METHODS.get("gcnz").presets["paper"])
    assert gcnz.hidden == "2048,2048,1024,1024,512" and not gcnz.layer_bias and gcnz.epochs == 300
    assert gcnz.dropout_layers == 2  # the release drops the input of its last two layers only
    for name in ("sgcn", "dgp"):  # the DGP release: biases, 3000 epochs
        paper = METHODS.get(name)(**METHODS.get(name).presets["paper"])
        assert paper.layer_bias and paper.epochs == 3000


@pytest.mark.parametrize("name", GCNS)
def test_default_unseen_rows_lie_in_the_seen_rows_span(name, tiny, base):
    """With output_span (default) the network outputs coordinates in a basis of the centred seen rows, so
    every predicted unseen row is the seen mean row plus a combination of centred seen rows (as ridge
    injection's rows are combinations of the seen rows); with a free output they are not."""
    cls = METHODS.get(name)
    view = train_view(tiny, test_split(tiny), access="image_free", base=base)
    centred = base.augmented - base.augmented.mean(axis=0)
    q = np.linalg.svd(centred, full_matrices=False)[2][:-1].T  # rank S - 1: the rows sum to zero
    for span in (True, False):
        method = cls(**{**cls.test_params, "epochs": 30, "output_span": span}).fit(view, rng=np.random.default_rng(0))
        rows = method.classifier_.augmented[len(base.classes):] - method.target_offset_
        outside = np.linalg.norm(rows - rows @ q @ q.T) / np.linalg.norm(rows)
        assert (outside < 1e-6) if span else (outside > 0.1), (span, outside)


@pytest.mark.parametrize("dropout_layers, dropped", [(None, [0, 1, 2]), (2, [1, 2]), (0, [])])
def test_dropout_only_on_the_last_layers_inputs(dropout_layers, dropped):
    """In training mode a layer whose input is dropped sees a different input on every pass; with
    ``dropout_layers=2`` (GCNZ's release) the first layers' inputs are the same on every pass."""
    import torch

    from zslbench.methods.gcn import _gcn_module

    rng = np.random.default_rng(0)
    adj = normalized_adjacency(knn_graph(rng.standard_normal((6, 4)), 2))
    prop = torch.as_tensor(adj.toarray(), dtype=torch.float32).to_sparse()
    net = _gcn_module(rng.standard_normal((6, 4)), prop, [4, 8, 8, 3], 0.5, "cpu", dropout_layers=dropout_layers)
    seen: dict[int, list] = {i: [] for i in range(3)}
    for i, layer in enumerate(net.layers):
        layer.register_forward_pre_hook(lambda _m, args, i=i: seen[i].append(args[0].detach().clone()))
    net.train()
    torch.manual_seed(0)
    net(), net()
    changed = [i for i in range(3) if not torch.equal(seen[i][0], seen[i][1])]
    assert changed == dropped


def test_gcnz_rejects_negative_dropout_layers(tiny, base):
    view = train_view(tiny, test_split(tiny), access="image_free", base=base)
    with pytest.raises(ValueError, match="gcnz: dropout_layers must be >= 0"):
        METHODS.get("gcnz")(**{**METHODS.get("gcnz").test_params, "dropout_layers": -1, "epochs": 2}).fit(
            view, rng=np.random.default_rng(0))


def test_mse_loss_with_weight_decay_is_ridge_on_a_linear_layer():
    """The default loss keeps the outputs' scale: half the squared error summed over the seen rows plus
    Adam's L2 weight decay ``wd`` has the ridge solution with lambda = wd as its minimum; Adam gets there."""
    import torch

    from zslbench.methods.gcn import _glorot

    rng = np.random.default_rng(0)
    S, A, r, wd = 40, 12, 5, 0.5
    X, T = rng.standard_normal((S, A)), rng.standard_normal((S, r))
    ridge = np.linalg.solve(X.T @ X + wd * np.eye(A), X.T @ T)
    layer = torch.nn.Linear(A, r, bias=False).double()
    _glorot(layer)
    x, t = torch.as_tensor(X), torch.as_tensor(T)
    opt = torch.optim.Adam(layer.parameters(), lr=1e-2, weight_decay=wd)
    for _ in range(3000):
        loss = 0.5 * (layer(x) - t).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(layer.weight.detach().numpy().T, ridge, atol=1e-3)


def test_glorot_initialisation():
    """Both releases initialise Glorot-uniform with zero biases (torch's default has a third of the variance)."""
    import torch

    from zslbench.methods.gcn import _glorot

    torch.manual_seed(0)
    layer = torch.nn.Linear(300, 500)
    _glorot(layer)
    bound = np.sqrt(6 / (300 + 500))
    w = layer.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert w.var() == pytest.approx(bound**2 / 3, rel=0.02)
    assert not layer.bias.detach().numpy().any()


def test_paper_training_keeps_raw_rescaling(tiny, base):
    """Without target centring, unseen rows are unit-norm outputs x the seen rows' mean norm."""
    cls = METHODS.get("sgcn")
    view = train_view(tiny, test_split(tiny), access="image_free", base=base)
    params = {**cls.presets["paper"], "hidden": 32, "epochs": 20}
    method = cls(**params).fit(view, rng=np.random.default_rng(0))
    rows = method.classifier_.augmented[len(base.classes):]
    seen_norm = np.linalg.norm(base.augmented, axis=1).mean()
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), seen_norm, rtol=1e-5)
    assert method.graph_info_["self_weight"] == 1.0 and not method.graph_info_["centred_descriptors"]


def test_dgp_records_knn_fallback(tiny, base):
    cls = METHODS.get("dgp")
    view = train_view(tiny, test_split(tiny), access="image_free", base=base)
    method = cls(**cls.test_params).fit(view, rng=np.random.default_rng(0))
    assert method.graph_info_["propagation"] == "knn_hops"
    assert method.graph_info_["max_hops"] == cls.test_params["max_hops"]


def test_wordnet_graph_on_synthetic_names_fails_clearly(tiny, base):
    view = train_view(tiny, test_split(tiny), access="image_free", base=base)
    with pytest.raises((RuntimeError, ValueError), match="WordNet|wordnet"):
        METHODS.get("sgcn")(graph="wordnet", epochs=2).fit(view, rng=np.random.default_rng(0))


def test_unknown_graph_rejected(tiny, base):
    view = train_view(tiny, test_split(tiny), access="image_free", base=base)
    with pytest.raises(ValueError, match="graph must be"):
        METHODS.get("gcnz")(graph="grid", epochs=2).fit(view, rng=np.random.default_rng(0))


@needs_wordnet
@pytest.mark.parametrize("name", GCNS)
def test_wordnet_graph_runs(name):
    """Animal names, random descriptors and a random base classifier: the WordNet path end to end."""
    names = ("german+shepherd", "dalmatian", "persian+cat", "siamese+cat", "killer+whale", "blue+whale",
             "horse", "zebra")
    rng = np.random.default_rng(0)
    d = 6
    seen = np.array([0, 2, 4, 6, 7])
    base = LinearClassifier(rng.standard_normal((5, d)), rng.standard_normal(5), seen)
    view = TrainView(descriptors=rng.random((8, 4)), seen=seen, unseen=np.array([1, 3, 5]), feature_dim=d,
                     base=base, class_names=names)
    cls = METHODS.get(name)
    method = cls(**{**cls.test_params, "graph": "wordnet", "wordnet_within": "animal", "epochs": 20})
    method.fit(view, rng=np.random.default_rng(0))
    info = method.graph_info_
    assert info["graph"] == "wordnet" and info["nodes"] > 8 and info["unmapped_classes"] == 0
    if name == "dgp":
        assert info["propagation"] == "ancestors_then_descendants"
    assert method.scores(rng.random((3, d)), np.arange(8)).shape == (3, 8)
