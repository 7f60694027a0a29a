"""GCN-style classifier-weight prediction (image-free): GCNZ, SGCN and DGP.

Nodes are classes (plus, on a WordNet graph, the synsets above them); a node's input is its L2-normalised
descriptor (a synset's input is the mean of its descendant classes' descriptors). A graph network maps
inputs to one classifier row ``[w | b]`` (d + 1) per node. Default loss (``loss="mse"``): squared error of
the raw outputs against the seen rows divided by their mean norm, summed over seen nodes, so weight decay
acts as a ridge penalty; with ``output_span`` the last layer outputs coordinates in the span of the seen
rows. ``loss="cosine"`` (the ``paper`` presets) is the papers' squared error on unit-norm outputs. Unseen
nodes' outputs become the unseen classifier rows.

- ``gcnz`` (Wang, Ye and Gupta, CVPR 2018): a 6-layer GCN, ``H' = Â (dropout(H) Θ)``, LeakyReLU 0.2
  between layers, Â = D^-1/2 A D^-1/2; widths decreasing (paper: 2048-2048-1024-1024-512; the default
  here is 4x narrower so that training takes seconds on a CPU, the ``paper`` preset restores them).
  As in the authors' release, only the last two layers drop their input (``dropout_layers``).
- ``sgcn`` (Kampffmeyer et al., CVPR 2019): the same with 2 layers (hidden 2048 in the paper preset).
- ``dgp`` (Kampffmeyer et al., CVPR 2019): dense propagation in two phases: each node first gathers from
  its ancestors at every distance k, then from its descendants, ``H' = Σ_k α_k D_k⁻¹ A_k H Θ`` with
  learned distance weights ``α = softmax(·)`` per phase. Without a hierarchy (the default kNN graph) both
  phases use the kNN graph's exact-k-hop neighbourhoods instead of ancestors / descendants (a dense
  multi-hop GCN); ``graph_info_`` records which.

Graphs (see :mod:`zslbench.methods._class_graph`): ``graph="knn"`` (default, every dataset): cosine kNN over
descriptors, ``k`` in the search space. ``graph="wordnet"``: the WordNet hierarchy of the class names
(needs a local WordNet, e.g. Debian's ``wordnet-base``; an error says so when absent); it is never chosen
silently, so a run's graph does not depend on what the machine has installed. Numbers on either graph are
not comparable to the papers' ImageNet/WordNet runs.

Rescaling: outputs are unit-norm; unseen rows are multiplied by the mean L2 norm of the base classifier's
seen rows ``[w | b]`` (seen rows stay the base classifier's own), so seen and unseen logits share a scale.
With ``center_targets`` (default) the network predicts the seen rows minus their mean row ``t̄``; an unseen
row is ``t̄ + u * mean ||t_s - t̄||`` for the unit-norm output ``u``.

Defaults differ from the papers (version 3): the loss and output span above, centred inputs and targets,
``self_weight`` on the self loop, no layer biases and stronger weight decay; dropout 0.5 and Glorot
initialisation as published. GCNZ (version 4) weighs its self loop 300 and drops nothing: over six
propagations a lighter self loop smooths away class detail. The ``paper`` presets restore the released
settings. Why, with the measurements: results/README.md, "GCN family (version 3, issue 15)" and "GCN
family on v4 (issue 15)".
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from zslbench.methods._class_graph import (
    hop_distances,
    hop_matrices,
    knn_graph,
    normalized_adjacency,
    wordnet_hierarchy,
)
from zslbench.method import ClassifierInjection, Param, TrainView
from zslbench.registry import register_method
from zslbench.toolbox import draw_seed, epoch_done, torch_threads

log = logging.getLogger(__name__)

GCNZ_PAPER_HIDDEN = "2048,2048,1024,1024,512"
PAPER_TRAINING = {"lr": 1e-3, "weight_decay": 5e-4, "dropout": 0.5, "center": False, "center_targets": False,
                  "self_weight": 1.0, "layer_bias": True, "loss": "cosine", "output_span": False}
"""The published training settings shared by the three ``paper`` presets."""


def _parse_hidden(hidden: str | int | tuple | list, name: str) -> list[int]:
    """Hidden widths from "512,256" (or a number / sequence); a clear error otherwise."""
    if isinstance(hidden, (int, np.integer)):
        return [int(hidden)]
    parts = hidden.split(",") if isinstance(hidden, str) else list(hidden)
    try:
        widths = [int(p) for p in parts]
    except (TypeError, ValueError):
        raise ValueError(f"{name}: hidden must be comma-separated widths like '512,256', got {hidden!r}") from None
    if not widths or min(widths) < 1:
        raise ValueError(f"{name}: hidden widths must be positive, got {hidden!r}")
    return widths


class _GraphInjection(ClassifierInjection):
    """Shared graph building, training loop and rescaling; subclasses build the network."""

    family = "GCN"
    seed_sensitive = True

    n_threads: ClassVar[int | None] = 1
    """torch intra-op threads while training (not a hyper-parameter: results do not depend on it). One
    thread: on a shared, loaded CPU, OpenMP threads of small ops wait on each other (measured 10-100x
    slower with 2 threads than 1 on synth-tiny). None: leave torch's setting alone."""

    space = {
        "k": Param(5, low=2, high=20, integer=True, help="neighbours per class in the kNN graph"),
        "graph": Param("knn", help="'knn' (descriptor kNN) or 'wordnet' (needs a local WordNet)"),
        "wordnet_within": Param(None, help="WordNet lemma to disambiguate senses, e.g. 'animal' (AWA2)"),
        "lr": Param(1e-2, low=1e-4, high=3e-2, log=True, help="Adam learning rate (paper: 1e-3)"),
        "weight_decay": Param(0.1, low=1e-3, high=10.0, log=True,
                              help="Adam weight decay; with loss='mse' the ridge penalty on a linear layer "
                                   "(paper: 5e-4 with its loss)"),
        "dropout": Param(0.5, low=0.0, high=0.5, help="dropout on each layer's input (paper: 0.5)"),
        "epochs": Param(300, low=100, high=1000, integer=True, help="full-graph training steps"),
        "center": Param(True, help="centre descriptors on the seen-class mean before L2-normalising and "
                                   "building the kNN graph (paper: False)"),
        "center_targets": Param(True, help="predict seen rows minus their mean row, add it back (paper: False)"),
        "self_weight": Param(20.0, low=1.0, high=50.0, log=True,
                             help="self-loop weight before normalisation (paper: 1 = plain A + I)"),
        "layer_bias": Param(False, help="bias terms in the layers (paper: True)"),
        "loss": Param("mse", choices=("mse", "cosine"),
                      help="'mse': squared error of the raw outputs against the seen rows divided by their mean "
                           "norm; 'cosine': of unit-norm outputs against unit-norm rows (paper)"),
        "output_span": Param(True, help="the last layer outputs coordinates in an orthonormal basis of the "
                                        "seen rows' span (paper: False, a free (d + 1)-d output)"),
    }

    # ---- graph ------------------------------------------------------------------------------------

    def _graph(self, view: TrainView) -> tuple[np.ndarray, Any, Any]:
        """(N, A) node inputs, the graph (sparse adjacency (N, N)) and the hierarchy or None.

        Class c is node c; on a WordNet graph, nodes C.. are ancestor synsets.
        """
        descriptors = np.asarray(view.descriptors, dtype=np.float64)
        if self.center:
            descriptors = descriptors - descriptors[np.asarray(view.seen)].mean(axis=0)
        descriptors = normalize(descriptors)
        C = descriptors.shape[0]
        if self.graph == "knn":
            k = int(self.k)
            if k >= C:
                log.warning("%s: k=%d >= %d classes; using k=%d", self.name, k, C, C - 1)
                k = C - 1
            adj = knn_graph(descriptors, k)
            self.graph_info_ = {"graph": "knn", "k": k, "metric": "cosine", "nodes": C,
                                "edges": int((adj.nnz - C) // 2), "centred_descriptors": bool(self.center)}
            return descriptors, adj, None
        if self.graph == "wordnet":
            if len(view.class_names) != C:
                raise ValueError(f"{self.name}: graph='wordnet' needs the class names in the view")
            hierarchy = wordnet_hierarchy(view.class_names, within=self.wordnet_within, head_fallback=True)
            if hierarchy is None:
                raise RuntimeError(
                    f"{self.name}: graph='wordnet' but no WordNet database was found (install Debian's "
                    "'wordnet-base', or use graph='knn')"
                )
            if len(hierarchy.unmapped) == C:
                raise ValueError(f"{self.name}: no class name maps to WordNet (e.g. {view.class_names[0]!r})")
            self.graph_info_ = {
                "graph": "wordnet", "source": hierarchy.source, "nodes": hierarchy.n_nodes,
                "edges": int(len(hierarchy.parents)), "unmapped_classes": len(hierarchy.unmapped),
                "within": self.wordnet_within, "head_fallback": True,
            }
            return hierarchy.node_descriptors(descriptors), hierarchy.adjacency(), hierarchy
        raise ValueError(f"{self.name}: graph must be 'knn' or 'wordnet', got {self.graph!r}")

    # ---- network (subclasses) ---------------------------------------------------------------------

    def _network(self, inputs: np.ndarray, adj: Any, hierarchy: Any, out_dim: int, device: Any) -> Any:
        """A torch module whose ``forward()`` returns the (N, out_dim) raw node outputs."""
        raise NotImplementedError

    # ---- training ---------------------------------------------------------------------------------

    def inject(self, view: TrainView, rng: np.random.Generator) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        inputs, adj, hierarchy = self._graph(view)
        if float(self.self_weight) <= 0:
            raise ValueError(f"{self.name}: self_weight must be > 0, got {self.self_weight}")
        self_weight = float(self.self_weight)
        self.graph_info_["self_weight"] = self_weight
        if self_weight != 1.0:
            adj = (adj + (self_weight - 1.0) * sp.identity(adj.shape[0], format="csr")).tocsr()
        targets = view.seen_targets()  # (S, d + 1)
        offset = targets.mean(axis=0) if self.center_targets else np.zeros(targets.shape[1])
        targets = targets - offset
        target_norm = float(np.linalg.norm(targets, axis=1).mean())
        if self.loss not in ("mse", "cosine"):
            raise ValueError(f"{self.name}: loss must be 'mse' or 'cosine', got {self.loss!r}")
        if self.output_span:  # (d + 1, r) orthonormal basis of the span of the (centred) seen rows
            _, sv, vt = np.linalg.svd(targets, full_matrices=False)
            basis = vt[sv > 1e-10 * sv.max()].T
        else:
            basis = np.eye(targets.shape[1])
        targets = targets @ basis  # (S, r) coordinates; norms and distances unchanged
        seed = draw_seed(rng)
        device = torch.device(self.device)
        seen_nodes = torch.as_tensor(np.asarray(view.seen), device=device)
        mse = self.loss == "mse"
        target = torch.as_tensor(targets / target_norm if mse else normalize(targets), dtype=torch.float32,
                                 device=device)
        with torch.random.fork_rng(devices=[]), torch_threads(self.n_threads):
            torch.manual_seed(seed)
            net = self._network(inputs, adj, hierarchy, targets.shape[1], device).to(device)
            opt = torch.optim.Adam(net.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
            self.loss_history_: list[float] = []
            net.train()
            for _ in range(int(self.epochs)):
                out = net() if mse else F.normalize(net(), dim=1)
                # squared error summed over the output dims and halved. loss="mse": summed over the seen
                # nodes, so weight decay is a ridge penalty whose strength does not depend on how many
                # classes are seen (a one-layer linear network reaches ridge regression with lambda =
                # weight_decay); unit-norm outputs hide the scale from it. loss="cosine": averaged over
                # the seen nodes, as DGP's release does (a per-element mean makes gradients ~1/d as
                # large, weight decay then wins and collapses every output to one direction)
                per_node = 0.5 * (out[seen_nodes] - target).pow(2).sum(dim=1)
                loss = per_node.sum() if mse else per_node.mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                self.loss_history_.append(float(loss.detach()))
                epoch_done(self.name, len(self.loss_history_), int(self.epochs), loss=self.loss_history_[-1])
            net.eval()
            with torch.no_grad():
                raw = net()[torch.as_tensor(np.asarray(view.unseen), device=device)]
                out = F.normalize(raw, dim=1)
        # mean norm of the raw unseen outputs (loss="mse": the targets' is 1; near 0: a collapsed fit)
        self.unseen_output_norm_ = float(raw.norm(dim=1).mean())
        self.target_norm_ = target_norm
        self.target_offset_ = offset
        return offset + (out.cpu().double().numpy() @ basis.T) * target_norm

    def record_info(self) -> dict[str, Any]:
        """What the run record should say about this fit (the graph used, the rescaling)."""
        return {
            "graph": dict(getattr(self, "graph_info_", {})),
            "rescale": ("seen mean row + unit-norm predictions x mean norm of the centred seen [w|b] rows"
                        if self.center_targets else
                        "unit-norm predictions x mean norm of the base classifier's seen [w|b] rows"),
            "final_train_loss": self.loss_history_[-1] if getattr(self, "loss_history_", None) else None,
            "loss": self.loss,
            "output_span": bool(self.output_span),
            "unseen_output_norm": getattr(self, "unseen_output_norm_", None),
        }


def _sparse_tensor(matrix: Any, device: Any) -> Any:
    """A scipy sparse matrix as a float32 torch sparse COO tensor."""
    import torch

    coo = matrix.tocoo()
    idx = torch.as_tensor(np.vstack([coo.row, coo.col]), dtype=torch.long)
    vals = torch.as_tensor(coo.data, dtype=torch.float32)
    return torch.sparse_coo_tensor(idx, vals, coo.shape, check_invariants=True).coalesce().to(device)


def _glorot(layer: Any) -> None:
    """Glorot-uniform weights and zero bias, the initialisation of both authors' releases (torch's
    default ``nn.Linear`` init has a third of the variance, which compounds over stacked layers)."""
    import torch

    torch.nn.init.xavier_uniform_(layer.weight)
    if layer.bias is not None:
        torch.nn.init.zeros_(layer.bias)


def _gcn_module(inputs: np.ndarray, propagation: Any, widths: list[int], dropout: float, device: Any,
                bias: bool = True, dropout_layers: int | None = None) -> Any:
    """A GCN over a fixed graph: layer l computes ``Â (dropout(H) Θ_l)``, LeakyReLU(0.2) between layers.

    ``dropout_layers``: only the last this many layers drop their input (None: every layer).
    """
    import torch
    from torch import nn

    n_layers = len(widths) - 1
    first_dropped = 0 if dropout_layers is None else max(n_layers - int(dropout_layers), 0)

    class GCN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("x", torch.as_tensor(inputs, dtype=torch.float32))
            self.layers = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in zip(widths[:-1], widths[1:]))
            for layer in self.layers:
                _glorot(layer)
            self.drop = nn.Dropout(dropout)
            self.prop = propagation

        def forward(self) -> torch.Tensor:
            h = self.x
            for i, layer in enumerate(self.layers):
                h = torch.sparse.mm(self.prop, layer(self.drop(h) if i >= first_dropped else h))
                if i < len(self.layers) - 1:
                    h = nn.functional.leaky_relu(h, 0.2)
            return h

    return GCN()


@register_method("gcnz")
class GCNZ(_GraphInjection):
    """6-layer GCN predicting classifier rows from descriptors over a class graph (Wang et al. 2018)."""

    label = "GCNZ"

    version = 4  # v4: self_weight 300 (was 20), no dropout (was 0.5 on every layer); dropout_layers
    description = "GCNZ (Wang et al. 2018): 6-layer GCN over a class graph predicts classifier weights."
    space = {
        **_GraphInjection.space,
        "hidden": Param("512,512,256,256,128", help="hidden widths, comma-separated (paper: 2048,2048,1024,1024,512)"),
        "lr": Param(1e-3, low=1e-4, high=3e-2, log=True, help="Adam learning rate (paper: 1e-3)"),
        "dropout": Param(0.0, low=0.0, high=0.5, help="dropout on the input of the last `dropout_layers` "
                                                      "layers (paper: 0.5)"),
        "dropout_layers": Param(2, low=0, high=6, integer=True,
                                help="how many layers, counted from the output, drop their input (the "
                                     "release: the last 2)"),
        "self_weight": Param(300.0, low=1.0, high=1000.0, log=True,
                             help="self-loop weight before normalisation (paper: 1 = plain A + I); six "
                                  "propagations over the kNN graph smooth away class detail below ~100"),
        "weight_decay": Param(0.05, low=1e-3, high=10.0, log=True,
                              help="Adam weight decay; with loss='mse' the ridge penalty on a linear layer "
                                   "(paper: 5e-4 with its loss)"),
    }
    # the release: no layer biases, 300 epochs (its saved predictions)
    presets = {"paper": {**PAPER_TRAINING, "hidden": GCNZ_PAPER_HIDDEN, "epochs": 300, "layer_bias": False}}
    test_params = {"hidden": "64,64,32,32,32", "epochs": 300, "lr": 3e-3, "k": 2}

    def _network(self, inputs, adj, hierarchy, out_dim, device):
        prop = _sparse_tensor(normalized_adjacency(adj), device)
        widths = [inputs.shape[1], *_parse_hidden(self.hidden, self.name), out_dim]
        if int(self.dropout_layers) < 0:
            raise ValueError(f"{self.name}: dropout_layers must be >= 0, got {self.dropout_layers}")
        return _gcn_module(inputs, prop, widths, float(self.dropout), device, bool(self.layer_bias),
                           dropout_layers=int(self.dropout_layers))


@register_method("sgcn")
class SGCN(_GraphInjection):
    """2-layer GCN predicting classifier rows (the SGCN baseline of Kampffmeyer et al. 2019)."""

    label = "SGCN"

    version = 3
    description = "SGCN (Kampffmeyer et al. 2019): 2-layer GCN over a class graph predicts classifier weights."
    space = {**_GraphInjection.space,
             "hidden": Param(512, choices=(512, 1024, 2048), help="hidden width (paper: 2048)")}
    presets = {"paper": {**PAPER_TRAINING, "hidden": 2048, "epochs": 3000}}  # the DGP release: 3000 epochs
    test_params = {"hidden": 32, "epochs": 300, "lr": 1e-2, "k": 3}

    def _network(self, inputs, adj, hierarchy, out_dim, device):
        prop = _sparse_tensor(normalized_adjacency(adj), device)
        widths = [inputs.shape[1], *_parse_hidden(self.hidden, self.name), out_dim]
        return _gcn_module(inputs, prop, widths, float(self.dropout), device, bool(self.layer_bias))


@register_method("dgp")
class DGP(_GraphInjection):
    """Dense graph propagation (Kampffmeyer et al. 2019): two phases of distance-weighted propagation.

    With ``graph="wordnet"``: phase 1 gathers from ancestors, phase 2 from descendants (k = 0 is the node
    itself; hops beyond ``max_hops`` share the last weight). With ``graph="knn"``: both phases gather from
    exact-k-hop neighbourhoods of the kNN graph (recorded as ``propagation="knn_hops"``).
    """

    label = "DGP"

    version = 3
    description = "DGP (Kampffmeyer et al. 2019): dense ancestor/descendant propagation (kNN-hop fallback)."
    space = {
        **_GraphInjection.space,
        "hidden": Param(512, choices=(512, 1024, 2048), help="hidden width (paper: 2048)"),
        "max_hops": Param(4, low=2, high=6, integer=True, help="distance weights kept (farther share the last)"),
    }
    presets = {"paper": {**PAPER_TRAINING, "hidden": 2048, "epochs": 3000}}  # the DGP release: 3000 epochs
    test_params = {"hidden": 64, "epochs": 300, "lr": 1e-2, "k": 2, "max_hops": 2}

    def _network(self, inputs, adj, hierarchy, out_dim, device):
        import torch
        from torch import nn

        K = int(self.max_hops)
        if hierarchy is not None:
            up = hierarchy.ancestor_distances()
            phase1, phase2 = hop_matrices(up, K), hop_matrices(up.T, K)
            self.graph_info_["propagation"] = "ancestors_then_descendants"
        else:
            dist = hop_distances(adj)
            phase1 = phase2 = hop_matrices(dist, K)
            self.graph_info_["propagation"] = "knn_hops"
        self.graph_info_["max_hops"] = K
        hidden = _parse_hidden(self.hidden, self.name)[0]
        dropout = float(self.dropout)
        bias = bool(self.layer_bias)
        # the self-loop weight enters DGP as the initial (learned) logit of the 0-hop slice
        alpha0 = torch.zeros(K + 1)
        alpha0[0] = float(np.log(float(self.self_weight)))

        class DenseProp(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.register_buffer("x", torch.as_tensor(inputs, dtype=torch.float32))
                self.register_buffer("m1", torch.as_tensor(phase1, dtype=torch.float32))  # (K+1, N, N)
                self.register_buffer("m2", torch.as_tensor(phase2, dtype=torch.float32))
                self.theta1 = nn.Linear(inputs.shape[1], hidden, bias=bias)
                self.theta2 = nn.Linear(hidden, out_dim, bias=bias)
                _glorot(self.theta1)
                _glorot(self.theta2)
                self.alpha1 = nn.Parameter(alpha0.clone())
                self.alpha2 = nn.Parameter(alpha0.clone())
                self.drop = nn.Dropout(dropout)

            @staticmethod
            def _mix(alpha: torch.Tensor, mats: torch.Tensor) -> torch.Tensor:
                return torch.einsum("k,kij->ij", torch.softmax(alpha, 0), mats)

            def forward(self) -> torch.Tensor:
                h = self._mix(self.alpha1, self.m1) @ self.theta1(self.drop(self.x))
                h = nn.functional.leaky_relu(h, 0.2)
                return self._mix(self.alpha2, self.m2) @ self.theta2(self.drop(h))

        return DenseProp()
