"""Probe benchmark: the torch C sweep (batches along the C path) against two sklearn
baselines, one C at a time from scratch ("cold") and warm-started along the C path ("warm",
what a careful user runs; the headline ratio is against it).

All run the same protocol (sweep on a stratified 80 % of train, score the 20 % held out,
refit the best C on all of train, score val) on the same synthetic FairFace-sized features
(86,744 train / 10,954 val, 768-d L2-normalized, 7 classes), in one process, so the ratio is
measured under the same load.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clipfair.bench.hardware import describe
from clipfair.io import write_json
from clipfair.methods.linear_probe import c_grid, sweep
from clipfair.methods.logreg import fit_logreg_batched
from clipfair.methods.sklearn_probe import fit_sklearn, sklearn_sweep
from clipfair.runtime import peak_rss_mb


def synthetic_features(
    n: int, dim: int, n_classes: int, seed: int, signal: float = 0.08
) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalized Gaussian features around random class means (CLIP-like scale).

    The class separation is that of 768-d features at ``signal`` for every ``dim``.
    """
    signal *= (768 / dim) ** 0.5
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(12345).normal(size=(n_classes, dim)).astype(np.float32)
    y = rng.integers(0, n_classes, n)
    x = means[y] * signal + rng.normal(size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), y.astype(np.int64)


def _timed(fn: Callable[[], Any], device: torch.device) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - start


def run_probe_bench(
    *,
    n_train: int = 86_744,
    n_val: int = 10_954,
    dim: int = 768,
    n_classes: int = 7,
    n_c: int = 20,
    c_min: float = 1e-3,
    c_max: float = 1e3,
    holdout: float = 0.2,
    max_iter: int = 500,
    gtol: float = 1e-4,
    seed: int = 0,
    device: torch.device | None = None,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Time both sweeps end to end; return (and write) figures, ratio and accuracy difference."""
    device = device or torch.device("cpu")
    x, y = synthetic_features(n_train, dim, n_classes, seed)
    xv, yv = synthetic_features(n_val, dim, n_classes, seed + 1)
    cs = c_grid(c_min, c_max, n_c)

    def torch_path() -> tuple[float, float, list[dict[str, float]]]:
        xt = torch.from_numpy(x).to(device)
        best_c, curve, best_fit = sweep(x, y, n_classes, cs, holdout, seed, max_iter, gtol, device)
        final = fit_logreg_batched(
            xt,
            torch.from_numpy(y),
            n_classes,
            [best_c],
            max_iter=max_iter,
            gtol=gtol,
            init=best_fit,
            precond=best_fit.precond,
        )
        acc = float((final.logits(torch.from_numpy(xv), 0).argmax(1).numpy() == yv).mean())
        return best_c, acc, curve

    def sklearn_path(warm: bool) -> tuple[float, float, list[dict[str, float]]]:
        best_c, curve = sklearn_sweep(x, y, cs, holdout, seed, max_iter, warm_start=warm)
        acc = float(fit_sklearn(x, y, best_c, max_iter).score(xv, yv))
        return best_c, acc, curve

    (t_c, t_acc, t_curve), t_time = _timed(torch_path, device)
    cpu = torch.device("cpu")
    (w_c, w_acc, w_curve), w_time = _timed(lambda: sklearn_path(True), cpu)
    (s_c, s_acc, s_curve), s_time = _timed(lambda: sklearn_path(False), cpu)
    result = {
        "benchmark": "probe_sweep",
        "machine": describe(device),
        "shape": {"n_train": n_train, "n_val": n_val, "dim": dim, "classes": n_classes},
        "sweep": {"n_c": n_c, "c_min": c_min, "c_max": c_max, "holdout": holdout},
        "torch_batched": {"seconds": t_time, "best_C": t_c, "val_accuracy": t_acc},
        "sklearn_warm": {"seconds": w_time, "best_C": w_c, "val_accuracy": w_acc},
        "sklearn_lbfgs": {"seconds": s_time, "best_C": s_c, "val_accuracy": s_acc},
        "speedup": w_time / t_time,  # against the warm-started baseline
        "speedup_vs_cold": s_time / t_time,
        "accuracy_difference_points": 100.0 * (t_acc - w_acc),
        "holdout_curves": {"torch": t_curve, "sklearn_warm": w_curve, "sklearn": s_curve},
        "peak_rss_mb": peak_rss_mb(),
    }
    if out:
        write_json(out, result)
    return result


def format_probe_bench(r: dict[str, Any]) -> str:
    """Human-readable lines of a probe benchmark result."""
    shape = r["shape"]
    rows = [
        ("torch path    ", r["torch_batched"]),
        ("sklearn warm  ", r["sklearn_warm"]),
        ("sklearn cold  ", r["sklearn_lbfgs"]),
    ]
    return "\n".join(
        [
            f"probe sweep: {r['sweep']['n_c']} values of C, {shape['n_train']:,} x {shape['dim']}"
            f" features, {shape['classes']} classes, on {r['machine']['device']}",
            *(
                f"  {name}: {t['seconds']:8.1f} s  best C {t['best_C']:.3g}"
                f"  val acc {100 * t['val_accuracy']:.2f}%"
                for name, t in rows
            ),
            f"  speedup {r['speedup']:.1f}x against sklearn warm-started along the C path"
            f" ({r['speedup_vs_cold']:.1f}x against cold), accuracy difference"
            f" {r['accuracy_difference_points']:+.2f} points, peak RSS {r['peak_rss_mb']:.0f} MiB",
        ]
    )


def profile_probe_bench(
    *,
    n_train: int = 86_744,
    dim: int = 768,
    n_classes: int = 7,
    n_c: int = 20,
    holdout: float = 0.2,
    max_iter: int = 500,
    gtol: float = 1e-4,
    seed: int = 0,
    threads: int = 2,
) -> dict[str, Any]:
    """Why the batched sweep is only so much faster than warm-started sklearn on a CPU.

    Profiles the torch sweep (``torch.profiler``, FLOPs of every matmul) and counts the
    warm-started sklearn path's L-BFGS iterations (``n_iter_``; each costs at least one
    forward and one backward matmul, 4·n·d·K FLOPs). Both do dense matmuls on the same
    features, so the time ratio is bounded by their FLOP ratio times their FLOP/s ratio."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from torch.profiler import ProfilerActivity, profile

    from clipfair.bench.hardware import cpu_peak_flops
    from clipfair.methods.linear_probe import holdout_split

    torch.set_num_threads(threads)
    x, y = synthetic_features(n_train, dim, n_classes, seed)
    cs = c_grid(1e-3, 1e3, n_c)
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        sweep(x, y, n_classes, cs, holdout, seed, max_iter, gtol, torch.device("cpu"))
    torch_s = time.perf_counter() - start
    ops = prof.key_averages()
    total_us = sum(e.self_cpu_time_total for e in ops)
    mm = [e for e in ops if e.flops]
    mm_us = sum(e.self_cpu_time_total for e in mm)
    mm_flops = sum(e.flops for e in mm)
    top = sorted(ops, key=lambda e: -e.self_cpu_time_total)[:6]

    fit_idx, _ = holdout_split(y, holdout, seed)
    model = LogisticRegression(max_iter=max_iter, warm_start=True)
    iterations = 0
    start = time.perf_counter()
    for c in cs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.set_params(C=float(c)).fit(x[fit_idx], y[fit_idx])
        iterations += int(np.max(model.n_iter_))
    sk_s = time.perf_counter() - start
    sk_flops = iterations * 4.0 * len(fit_idx) * (dim + 1) * n_classes
    peak, _ = cpu_peak_flops(threads)
    return {
        "torch_seconds": torch_s,
        "torch_matmul_share": mm_us / total_us,
        "torch_matmul_gflops": mm_flops / 1e9,
        "torch_matmul_gflop_s": mm_flops / (mm_us / 1e6) / 1e9,
        "top_ops": [(e.key, e.self_cpu_time_total / total_us) for e in top],
        "sklearn_warm_seconds": sk_s,
        "sklearn_warm_iterations": iterations,
        "sklearn_warm_gflops_at_least": sk_flops / 1e9,
        "sklearn_warm_gflop_s_at_least": sk_flops / sk_s / 1e9,
        "cpu_peak_gflop_s": peak / 1e9,
    }


def format_probe_profile(p: dict[str, Any]) -> str:
    """The profile's lines, ending with the speedup the torch sweep could reach at most: all
    of its matmul FLOPs at the CPU's fp32 peak and nothing else, against sklearn as measured."""
    ceiling = p["sklearn_warm_seconds"] / (p["torch_matmul_gflops"] / p["cpu_peak_gflop_s"])
    measured = p["sklearn_warm_seconds"] / p["torch_seconds"]
    peak_share = p["torch_matmul_gflop_s"] / p["cpu_peak_gflop_s"]
    return "\n".join(
        [
            f"torch sweep ({p['torch_seconds']:.1f} s): {100 * p['torch_matmul_share']:.0f}% "
            f"of its CPU time in matmuls, {p['torch_matmul_gflops']:.0f} GFLOP at "
            f"{p['torch_matmul_gflop_s']:.0f} GFLOP/s = {100 * peak_share:.0f}% of the "
            f"{p['cpu_peak_gflop_s']:.0f} GFLOP/s fp32 peak",
            "  top ops: " + ", ".join(f"{k} {100 * s:.0f}%" for k, s in p["top_ops"]),
            f"sklearn warm-started sweep ({p['sklearn_warm_seconds']:.1f} s): "
            f"{p['sklearn_warm_iterations']} L-BFGS iterations over the C path, at least "
            f"{p['sklearn_warm_gflops_at_least']:.0f} GFLOP",
            f"speedup measured here {measured:.1f}x; ceiling {ceiling:.1f}x (the torch sweep's "
            "matmul FLOPs at the fp32 peak, nothing else)",
        ]
    )
