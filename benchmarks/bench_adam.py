"""Benchmark the optimiser step of the generative methods: torch's per-parameter Adam loop against the fused
kernel (``zslbench.toolbox.adam``), on CADA-VAE's two VAEs at the paper's sizes (a batch of 50 images).

The two optimisers run interleaved in one process (``--rounds`` rounds of ``--steps`` training batches
each), so machine load hits both alike; the figure to read is the ratio of the medians. The step's
forward and backward passes are timed too: the ratio of whole training steps is what a run gains.

Usage:
    python benchmarks/bench_adam.py [--feature-dim 2048] [--att-dim 85] [--steps 40] [--rounds 5]
        [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feature-dim", type=int, default=2048)
    ap.add_argument("--att-dim", type=int, default=85, help="descriptor dimensions (AWA2: 85, CUB: 312)")
    ap.add_argument("--steps", type=int, default=40, help="training batches per round and optimiser")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the records use 1)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()

    import torch

    from zslbench.methods.cada_vae import CADAVAE, CadaModel
    from zslbench.toolbox import adam

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    width = {k: int(CADAVAE.space[k].default) for k in ("latent", "img_enc_hidden", "img_dec_hidden",
                                                          "att_enc_hidden", "att_dec_hidden")}
    models = {name: CadaModel(args.feature_dim, args.att_dim, *width.values(), noise="release")
              for name in ("loop", "fused")}
    models["fused"].load_state_dict(models["loop"].state_dict())
    opts = {"loop": torch.optim.Adam(models["loop"].parameters(), lr=1.5e-4, betas=(0.9, 0.999), amsgrad=True),
            "fused": adam(models["fused"].parameters(), lr=1.5e-4, amsgrad=True)}
    weight = {term: float(CADAVAE.space[name].default)  # the loss weights after warm-up
              for term, name in (("kl", "beta"), ("cross", "cross_weight"), ("distance", "distance_weight"))}
    x, a = torch.rand(50, args.feature_dim), torch.rand(50, args.att_dim)
    seconds: dict[str, dict[str, list[float]]] = {n: {"pass": [], "step": []} for n in models}

    def train(name: str, steps: int) -> tuple[float, float]:
        model, opt = models[name], opts[name]
        passes = step = 0.0
        for _ in range(steps):
            t0 = time.perf_counter()
            parts = model.losses(x, a)
            loss = parts["recon"] + sum(weight[k] * parts[k] for k in ("kl", "cross", "distance"))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t1 = time.perf_counter()
            opt.step()
            passes, step = passes + t1 - t0, step + time.perf_counter() - t1
        return passes / steps, step / steps

    for name in models:
        train(name, 3)  # warm-up: allocations and the optimiser state
    for _ in range(args.rounds):
        for name in models:
            p, s = train(name, args.steps)
            seconds[name]["pass"].append(p)
            seconds[name]["step"].append(s)
    med = {n: {k: statistics.median(v) * 1000 for k, v in d.items()} for n, d in seconds.items()}
    total = {n: m["pass"] + m["step"] for n, m in med.items()}
    print(f"CADA-VAE at its default (paper) widths {list(width.values())}, batch 50, {args.threads} torch thread(s); median of {args.rounds} rounds "
          f"of {args.steps} batches (ms per batch)")
    print("| optimiser | forward + backward | optimiser step | whole batch |")
    print("|---|---|---|---|")
    for n in models:
        print(f"| {n} | {med[n]['pass']:.1f} | {med[n]['step']:.1f} | {total[n]:.1f} |")
    print(f"whole batch, loop / fused: {total['loop'] / total['fused']:.2f}x; "
          f"optimiser step alone: {med['loop']['step'] / med['fused']['step']:.2f}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"ms_per_batch": med, "threads": args.threads, "rounds": args.rounds, "steps": args.steps}, fh,
                      indent=1)


if __name__ == "__main__":
    main()
