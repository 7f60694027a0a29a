"""Where a training step's time goes, against what this machine can do at best (one thread, CPU time).

Two steps are taken apart on synth-cub-sized inputs (random data of the same shapes; the speed of these
ops does not depend on the values):

1. the base classifier (batch 16 of 2048-d features, K seen classes): the lean step (``train_linear_softmax``),
   its matrix products alone, its Adam update alone, and the autograd reference's step;
2. the ICIS joint autoencoders (A -> h -> A, d+1 -> h -> d+1, batch 16 classes): forward + backward with
   autograd, the fused Adam update alone, and the whole step.

The base classifier's step is compared with its own products (which every trainer of the model must
compute). ICIS's floor is its floating-point work at the sgemm rate measured here on its largest product's
shape plus Adam's memory traffic (read p, g, m, v; write p, m, v: 28 bytes per parameter; 270 MB at
9.7 M parameters, far more than the cache) at the copy bandwidth measured here. A step cannot run much
below its floor without changing what it computes, so ``step / floor`` says how much a rewrite could
still win.

Usage:
    python benchmarks/bench_floor.py [--classes 150] [--repeats 30]
"""

from __future__ import annotations

import argparse
import os
import time


def cpu_ms(fn, repeats: int) -> float:
    """Best-of-3 mean CPU milliseconds of ``fn()`` over ``repeats`` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(repeats):
            fn()
        best = min(best, (time.process_time() - start) / repeats * 1e3)
    return best


def machine_rates(torch, repeats: int) -> tuple[float, float]:
    """(sgemm GFLOP/s on a (32 x 2048) @ (2048 x 2049) product, copy GB/s on 40 MB) on one thread."""
    a, b = torch.randn(32, 2048), torch.randn(2048, 2049)
    gflops = 2 * 32 * 2048 * 2049 / cpu_ms(lambda: torch.mm(a, b), repeats) / 1e6
    x, y = torch.randn(10_000_000), torch.empty(10_000_000)
    gbs = 2 * 4 * x.numel() / cpu_ms(lambda: y.copy_(x), repeats) / 1e6
    return gflops, gbs


def base_classifier_step(torch, K: int, repeats: int, gflops: float, gbs: float) -> None:
    from zslbench.base_classifier import _InPlaceAdam

    B, d = 16, 2048
    gen = torch.Generator().manual_seed(0)
    xb, yb = torch.rand(B, d, generator=gen), torch.randint(0, K, (B,), generator=gen)
    w, b = torch.randn(K, d, generator=gen) * 0.02, torch.zeros(K)
    grads = [torch.empty_like(w), torch.empty_like(b)]
    adam = _InPlaceAdam([w, b], lr=1e-4)
    rows = torch.arange(B)

    def products():
        probs = torch.softmax(torch.addmm(b, xb, w.t()), dim=1)
        probs[rows, yb] -= 1.0
        probs.div_(B)
        torch.mm(probs.t(), xb, out=grads[0])
        torch.sum(probs, dim=0, out=grads[1])

    def lean():
        products()
        adam.step(grads)

    wa, ba = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
    opt = torch.optim.Adam([wa, ba], lr=1e-4, fused=True)
    loss_fn = torch.nn.CrossEntropyLoss()

    def autograd():
        loss = loss_fn(torch.addmm(ba, xb, wa.t()), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    n_params = K * (d + 1)
    t_prod, t_adam = cpu_ms(products, repeats * 10), cpu_ms(lambda: adam.step(grads), repeats * 10)
    t_lean, t_auto = cpu_ms(lean, repeats * 10), cpu_ms(autograd, repeats * 10)
    print(f"\n1. base classifier step (batch {B}, {d}-d, K={K}; {n_params / 1e3:.0f} k parameters, Adam state in cache):")
    print(f"   products alone {t_prod:.3f} ms, Adam alone {t_adam:.3f} ms; lean step {t_lean:.3f} ms, autograd step "
          f"{t_auto:.3f} ms ({t_auto / t_lean:.2f}x)")
    print(f"   5x faster than autograd would be {t_auto / 5:.3f} ms a step: "
          f"{'below' if t_auto / 5 < t_prod else 'above'} the products alone ({t_prod:.3f} ms), which every "
          f"trainer of this model must compute")
    print(f"   an epoch of 7057 images (441 steps): lean {441 * t_lean / 1e3:.2f} s, autograd {441 * t_auto / 1e3:.2f} s")


def icis_step(torch, repeats: int, gflops: float, gbs: float) -> None:
    from zslbench.methods.icis import TERMS_OF_VARIANT, JointAutoencoders, _init_linear, autoencoder_loss_terms
    from zslbench.toolbox import adam as make_adam

    A, D, H, B = 312, 2049, 2048, 16
    gen = torch.Generator().manual_seed(0)
    a, t = torch.rand(B, A, generator=gen), torch.randn(B, D, generator=gen) * 0.02
    mask = torch.ones(B)
    net = JointAutoencoders(A, D, H)
    _init_linear(net, 0.02, gen)
    opt = make_adam(net.parameters(), 1e-5)
    terms = TERMS_OF_VARIANT["full"]

    def forward_backward():
        parts = autoencoder_loss_terms(net(a, t), a, t, mask)
        opt.zero_grad(set_to_none=True)
        sum(parts[k] for k in terms).backward()

    def step():
        forward_backward()
        opt.step()

    forward_backward()
    n_params = sum(p.numel() for p in net.parameters())
    # forward: enc_a, enc_t on B rows, both decoders on 2B rows; backward: weight gradients of all four
    # layers and the input gradients of both decoders (neither input needs one)
    fwd = 2 * B * H * (A + D) + 2 * 2 * B * H * (A + D)
    bwd = 2 * B * H * (A + D) + 2 * 2 * B * H * (A + D) + 2 * 2 * B * H * (A + D)
    floor = (fwd + bwd) / gflops / 1e6 + 28 * n_params / gbs / 1e6
    t_fb, t_adam, t_step = cpu_ms(forward_backward, repeats), cpu_ms(opt.step, repeats), cpu_ms(step, repeats)
    print(f"\n2. ICIS step (batch {B} classes, A={A}, d+1={D}, h={H}; {n_params / 1e6:.1f} M parameters, "
          f"{(fwd + bwd) / 1e6:.0f} MFLOP):")
    print(f"   forward + backward {t_fb:.1f} ms + fused Adam {t_adam:.1f} ms; step {t_step:.1f} ms; floor "
          f"{floor:.1f} ms ({t_step / floor:.1f}x)")
    print(f"   synth-cub (200 rows with unseen, 13 steps an epoch): {13 * t_step / 1e3:.2f} s an epoch, "
          f"{2 * 220 * 13 * t_step / 1e3:.0f} s for the two fits of one run at 220 epochs each")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=int, default=150, help="seen classes of the base classifier")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    os.environ.setdefault("ZSLBENCH_PROGRESS", "0")
    import torch

    torch.set_num_threads(1)
    gflops, gbs = machine_rates(torch, args.repeats)
    print(f"load average {os.getloadavg()} on {os.cpu_count()} CPUs; one thread, CPU time")
    print(f"this machine: sgemm {gflops:.1f} GFLOP/s (32 x 2048 @ 2048 x 2049), copy {gbs:.1f} GB/s")
    base_classifier_step(torch, args.classes, args.repeats, gflops, gbs)
    icis_step(torch, args.repeats, gflops, gbs)


if __name__ == "__main__":
    main()
