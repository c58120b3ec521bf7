"""Multinomial logistic regression for many regularization values at once (one batched problem).

For S values of C the S problems share the features, so one ``(N, D+1) @ (D+1, S*K)`` matmul
gives every problem's logits: reading ``X`` once per step instead of S times is what makes a
sweep cheap (a single problem's ``(N, D) @ (D, K)`` is memory-bound). Each problem keeps its
own L-BFGS memory, step length and stopping test, and leaves the batch as soon as it has
converged, so the easy (strongly regularized) problems stop costing.

The initial inverse Hessian of L-BFGS is the exact inverse Hessian at uniform predictions
(where every fit starts), ``((I - 11ᵀ/K)/K ⊗ XᵀX/N + 2λ)⁻¹``, applied in the eigenbases of
``XᵀX/N`` and ``(I - 11ᵀ/K)/K`` (one eigendecomposition for all C). It carries each problem's
scale and the features' anisotropy: 13 iterations instead of 39 with the usual scalar
initial Hessian on FairFace-sized features (``clipfair bench probe``).

``fit_logreg_path`` walks a sweep's values of C in a few such batches, each warm-started from
the last solution of the one before: fewer problem-iterations than one batch from zero.

The line search costs no matmul: logits are linear in the weights, so with the logits of the
full step computed once per iteration every trial step is an interpolation (backtracking
Armijo on that); an accepted full step keeps the exact logits, so rounding does not build up.
One iteration = two matmuls (``X @ (theta + d)`` and ``residual.T @ X``).

Objective per problem, sklearn's divided by ``C*N`` so that C means what it means in
``sklearn.linear_model.LogisticRegression``: ``mean CE + ||W||^2 / (2 C N)`` (bias free).
Gradients are analytic (no autograd graph). float32 by default (float64 features give a
float64 solve: float32 cannot resolve gradients much below ~1e-5, which the sweep never needs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

History = list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


@dataclass
class LogRegFit:
    """Weights ``(S, D, K)``, biases ``(S, K)`` and solver statistics of a batched fit."""

    weight: torch.Tensor
    bias: torch.Tensor
    iterations: int
    converged: list[bool]
    precond: Preconditioner | None = field(default=None, repr=False)

    def logits(self, x: torch.Tensor, s: int) -> torch.Tensor:
        """Logits of problem ``s`` for features ``x``."""
        return x @ self.weight[s] + self.bias[s]


def _xmul(xb: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """(N, D+1) x (S, D+1, K) -> logits (N, S, K), one matmul for all problems."""
    s, d1, k = theta.shape
    return (xb @ theta.permute(1, 0, 2).reshape(d1, s * k)).view(-1, s, k)


def _exp_shifted(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(exp(logits - max), max, sum): by hand, 4x faster than softmax over a last dim of K."""
    top = logits.amax(-1, keepdim=True)
    e = (logits - top).exp_()
    return e, top, e.sum(-1, keepdim=True)


def _mean_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per problem (S,); ``target`` is (N, S, 1)."""
    _, top, total = _exp_shifted(logits)
    lse = top + total.log_()
    return (lse - logits.gather(2, target)).squeeze(2).mean(0)


def _gradient(
    xb: torch.Tensor,
    logits: torch.Tensor,
    target: torch.Tensor,
    theta: torch.Tensor,
    penalty: torch.Tensor,
) -> torch.Tensor:
    """Gradient (S, (D+1)*K) of the objective at ``theta`` whose logits are given."""
    n, s, k = logits.shape
    resid, _, total = _exp_shifted(logits)
    resid.div_(total)  # softmax
    resid.scatter_add_(2, target, torch.full_like(resid[..., :1], -1.0))
    resid /= n
    # (R.T @ X).T rather than X.T @ R: BLAS is 2x faster this way round for few columns
    grad = (resid.view(n, s * k).T @ xb).view(s, k, -1).transpose(1, 2).contiguous()
    grad[:, :-1] += (2.0 * penalty).view(s, 1, 1) * theta[:, :-1]
    return grad.view(s, -1)


class Preconditioner:
    """The Hessian at uniform predictions, inverted per problem in its factors' eigenbases."""

    def __init__(self, xb: torch.Tensor, n_classes: int, max_rows: int = 16_384) -> None:
        rows = xb[:: max(1, len(xb) // max_rows)]  # an even subsample is plenty for a bound
        gram = (rows.T @ rows).double() / len(rows)
        lam, self.v = torch.linalg.eigh(gram)
        eye = torch.eye(n_classes, dtype=torch.float64, device=xb.device)
        mu, self.u = torch.linalg.eigh((eye - 1 / n_classes) / n_classes)
        curvature = lam.clamp_min(0)[:, None] * mu.clamp_min(0)[None, :]
        self.curvature, self.v, self.u = (t.to(xb.dtype) for t in (curvature, self.v, self.u))

    def apply(self, q: torch.Tensor, penalty: torch.Tensor) -> torch.Tensor:
        """``B_s⁻¹ q_s`` for every problem s; ``q`` is (S, (D+1)*K)."""
        s, (d1, k) = q.shape[0], self.curvature.shape
        r = self.v.T @ q.view(s, d1, k) @ self.u
        r /= self.curvature + 2.0 * penalty.view(s, 1, 1)
        return (self.v @ r @ self.u.T).reshape(s, -1)


def _direction(
    grad: torch.Tensor, history: History, precond: Preconditioner, penalty: torch.Tensor
) -> torch.Tensor:
    """L-BFGS two-loop recursion, vectorized over problems; a pair with rho=0 is a no-op."""
    q = grad.clone()
    alphas = []
    for s_k, y_k, rho in reversed(history):
        a = rho * (s_k * q).sum(1)
        alphas.append(a)
        q -= a[:, None] * y_k
    q = precond.apply(q, penalty)
    for (s_k, y_k, rho), a in zip(history, reversed(alphas), strict=True):
        b = rho * (y_k * q).sum(1)
        q += s_k * (a - b)[:, None]
    return -q


def with_bias_column(x: torch.Tensor) -> torch.Tensor:
    """``[x, 1]``: float32 (float64 stays float64), the bias as the last weight row."""
    x = x if x.dtype == torch.float64 else x.float()
    return torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype, device=x.device)], 1)


def fit_logreg_batched(
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    cs: np.ndarray | list[float],
    *,
    max_iter: int = 500,
    gtol: float = 1e-4,
    ftol: float = 1e-7,
    memory: int = 10,
    init: LogRegFit | None = None,
    precond: Preconditioner | None = None,
    has_bias_column: bool = False,
) -> LogRegFit:
    """Fit one problem per C. Stops a problem at ``max|grad| < gtol`` or relative change < ftol.

    ``init`` warm-starts every problem (it must hold S problems, or one to broadcast);
    ``precond`` reuses a preconditioner (e.g. the sweep's for the refit on all of train);
    ``has_bias_column``: ``x`` is already :func:`with_bias_column`'s.
    """
    xb = x if has_bias_column else with_bias_column(x)
    dev, dtype = xb.device, xb.dtype
    n, d = xb.shape[0], xb.shape[1] - 1
    cs = np.asarray(cs, dtype=np.float64)
    n_prob, shape = len(cs), (d + 1, n_classes)
    y = y.to(dev).long().view(n, 1, 1)
    penalty_all = torch.as_tensor(1.0 / (2.0 * cs * n), dtype=dtype, device=dev)
    theta_all = torch.zeros(n_prob, *shape, dtype=dtype, device=dev)
    if init is not None:
        theta_all[:, :d] = init.weight.to(dev)
        theta_all[:, d] = init.bias.to(dev)
    active = torch.arange(n_prob, device=dev)
    converged = torch.zeros(n_prob, dtype=torch.bool, device=dev)

    precond = precond or Preconditioner(xb, n_classes)
    # State of the active problems: parameters, logits, objective, gradient, L-BFGS pairs.
    theta, penalty = theta_all.clone(), penalty_all
    logits = _xmul(xb, theta)
    target = y.expand(n, n_prob, 1)
    sq = (theta[:, :d] ** 2).sum((1, 2))
    loss = _mean_ce(logits, target) + penalty * sq
    grad = _gradient(xb, logits, target, theta, penalty)
    history: History = []
    iterations = 0
    while len(active) and iterations < max_iter:
        iterations += 1
        m = len(active)
        direction = _direction(grad, history, precond, penalty)
        slope = (grad * direction).sum(1)
        uphill = slope >= 0  # a bad curvature pair: fall back to steepest descent
        if uphill.any():
            direction[uphill] = -grad[uphill]
            slope = (grad * direction).sum(1)
        dtheta = direction.view(m, *shape)
        full = _xmul(xb, theta + dtheta)  # exact logits of the full step
        dlogits = full - logits
        w_d = (theta[:, :d] * dtheta[:, :d]).sum((1, 2))
        d_d = (dtheta[:, :d] ** 2).sum((1, 2))
        step = torch.ones(m, dtype=dtype, device=dev)
        for _ in range(40):  # backtracking on the cached logits: no matmul per trial
            trial = logits + step.view(1, m, 1) * dlogits
            new_loss = _mean_ce(trial, target) + penalty * (sq + 2 * step * w_d + step**2 * d_d)
            fail = new_loss > loss + 1e-4 * step * slope
            if not fail.any():
                break
            step = torch.where(fail, 0.5 * step, step)
        s_k = step[:, None] * direction
        theta = theta + s_k.view(m, *shape)
        whole = step == 1  # the usual case: exact logits, so rounding never accumulates
        logits = torch.where(whole.view(1, m, 1), full, trial)
        sq = (theta[:, :d] ** 2).sum((1, 2))
        new_grad = _gradient(xb, logits, target, theta, penalty)
        y_k = new_grad - grad
        sy = (s_k * y_k).sum(1)
        history.append((s_k, y_k, torch.where(sy > 1e-10, 1.0 / sy, torch.zeros_like(sy))))
        history = history[-memory:]
        change = (loss - new_loss).abs() / new_loss.abs().clamp_min(1e-3)
        loss, grad = new_loss, new_grad
        done = (grad.abs().amax(1) < gtol) | (change <= ftol)
        if done.any():
            theta_all[active[done]] = theta[done]
            converged[active[done]] = True
            keep = ~done
            active, theta, penalty = active[keep], theta[keep], penalty[keep]
            logits, loss, grad, sq = logits[:, keep], loss[keep], grad[keep], sq[keep]
            target = y.expand(n, len(active), 1)
            history = [(a[keep], b[keep], r[keep]) for a, b, r in history]
    theta_all[active] = theta  # problems stopped by max_iter
    return LogRegFit(
        weight=theta_all[:, :d].float().cpu(),
        bias=theta_all[:, d].float().cpu(),
        iterations=iterations,
        converged=converged.cpu().tolist(),
        precond=precond,
    )


def fit_logreg_path(
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    cs: np.ndarray | list[float],
    *,
    chunk: int = 7,
    precond: Preconditioner | None = None,
    **options: Any,
) -> LogRegFit:
    """Fit increasing values of C along the regularization path, ``chunk`` at a time.

    The first batch starts from zero; each later one starts from the solution of the largest C
    before it (what sklearn's ``warm_start`` does one C at a time), and all share one
    preconditioner. Every iteration of a batch costs a matmul as wide as its unconverged
    problems, and the weakly regularized ones need the most iterations from zero, so walking
    the path in a few batches does less work than one batch: on FairFace-sized features (20
    values of C, 69,395 x 768, 7 classes; 2 CPU threads) 19 iterations of batches of 7, 7 and
    6 took 1.9 s against 14 iterations of up to 20 problems in 2.5 s, with the same solutions
    to the stopping tolerance. ``options`` go to :func:`fit_logreg_batched`.
    """
    cs = np.asarray(cs, dtype=np.float64)
    if len(cs) == 0:
        raise ValueError("fit_logreg_path: no values of C")
    if np.any(np.diff(cs) < 0):
        raise ValueError(f"fit_logreg_path: C must increase along the path, got {cs.tolist()}")
    chunk = max(1, chunk)
    xb = with_bias_column(x)  # once for every batch
    fits: list[LogRegFit] = []
    for start in range(0, len(cs), chunk):
        init = LogRegFit(fits[-1].weight[-1:], fits[-1].bias[-1:], 0, [True]) if fits else None
        fit = fit_logreg_batched(
            xb, y, n_classes, cs[start : start + chunk],
            init=init, precond=precond, has_bias_column=True, **options,
        )  # fmt: skip
        precond = fit.precond
        fits.append(fit)
    return LogRegFit(
        weight=torch.cat([f.weight for f in fits]),
        bias=torch.cat([f.bias for f in fits]),
        iterations=sum(f.iterations for f in fits),
        converged=[c for f in fits for c in f.converged],
        precond=precond,
    )
