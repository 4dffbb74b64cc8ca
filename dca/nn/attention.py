"""Exact CPU kernel for DCA's spatial cross-attention: shared keys, one key-side GEMM in backward, reused buffers.

For stage i and one head, SCA computes softmax(Q_i K_i^T) V_i with Q_i = X*a_i + b_i and
K_i = X*c_i + d_i: per-channel affine maps of the *same* token matrix X (the normalised
concatenation). A row-wise softmax ignores every term that is constant along a row, so

    softmax(Q_i K_i^T) = softmax((X*w_i + u_i) X^T),   w_i = a_i*c_i,  u_i = b_i*c_i,

exactly: every stage shares the keys X, and the key bias d_i drops out (its true gradient is
zero). The score matrix is then X diag(w_i) X^T (symmetric) plus a bias column, which halves
the key-side backward: dX = ((dS + dS^T) X) * w_i + colsum(dS) u_i, one N x N x D product
where autograd runs two (dQ = dS K and dK = dS^T Q). torch has no fused CPU attention for V
narrower than Q/K (SCA's case; its flash kernel would need V zero-padded to the Q/K width,
up to 4x the value work), so this is written out. Large grids go by (sample, head) chunks
and the backward recomputes their probabilities, so memory stays bounded as in flash attention.

The N x N buffers are the largest tensors of a DCA step; allocating them afresh each step
costs more than the softmax (the allocator maps and page-faults new memory for every large
block), so they come from a :class:`Workspace` that hands a buffer out again only when no
tensor, the autograd graph's saved ones included, still uses it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

# Workspace buffers kept per name: two let a second forward (gradient accumulation) reuse too.
_KEPT_PER_NAME = 2
_use_count = getattr(torch._C, "_storage_Use_Count", None)


class Workspace:
    """Reusable scratch tensors, handed out as views so that any live use marks them busy.

    A cached base tensor is free when its storage has no user but the cache (and the
    temporary handle of the check). Without torch's use-count hook every request allocates.
    Scratch never travels: deep copies and pickles of a module get an empty workspace.
    """

    def __init__(self) -> None:
        self._bases: dict[str, list[Tensor]] = {}

    def __deepcopy__(self, memo: dict) -> Workspace:
        return Workspace()

    def __getstate__(self) -> dict:
        return {"_bases": {}}

    def get(self, name: str, shape: Sequence[int], like: Tensor) -> Tensor:
        """An uninitialised tensor of ``shape`` with ``like``'s dtype and device."""
        numel = math.prod(shape)
        bases = self._bases.setdefault(name, [])
        for base in bases:
            if (base.dtype == like.dtype and base.device == like.device and base.numel() >= numel
                    and _use_count is not None and _use_count(base.untyped_storage()._cdata) <= 2):
                return base[:numel].view(shape)
        with torch.inference_mode(False):  # a normal tensor, usable in and out of inference mode
            base = torch.empty(numel, dtype=like.dtype, device=like.device)
        bases.append(base)
        del bases[:-_KEPT_PER_NAME]
        return base[:numel].view(shape)


def _stage_scores(x: Tensor, w: Tensor, u: Tensor, out: Tensor) -> Tensor:
    """Softmax((X*w + u) X^T) into ``out`` (c, N, N) for c (sample, head) pairs; x (c, N, D), w and u (c, D)."""
    q = torch.addcmul(u[:, None, :], x, w[:, None, :])
    torch.bmm(q, x.transpose(1, 2), out=out)
    return torch.softmax(out, dim=-1, out=out)


def _pairs(x: Tensor, w: Tensor, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Flatten (sample, head): x (B*h, N, D), w and u (S, B*h, D)."""
    b, h, n, d = x.shape
    return x.reshape(b * h, n, d), w.repeat(1, b, 1), u.repeat(1, b, 1)


def _chunks(pairs: int, tokens: int, scores_max: int) -> list[slice]:
    """(sample, head) ranges whose N x N scores hold at most ``scores_max`` elements (at least one pair)."""
    size = max(1, min(pairs, scores_max // (tokens * tokens)))
    return [slice(start, min(start + size, pairs)) for start in range(0, pairs, size)]


def _attend(
    x: Tensor, w: Tensor, u: Tensor, values: Sequence[Tensor], probs: Tensor, chunks: list[slice], keep: bool
) -> list[Tensor]:
    """Per stage softmax((X*w_i + u_i) X^T) V_i on flattened pairs. ``keep``: ``probs`` is (S, B*h, N, N)
    and receives every stage's probabilities; otherwise it is one chunk's (1, c, N, N) scratch."""
    outs = []
    for i, v in enumerate(values):
        out = torch.empty_like(v)
        for rows in chunks:
            p = probs[i, rows] if keep else probs[0, : rows.stop - rows.start]
            torch.bmm(_stage_scores(x[rows], w[i, rows], u[i, rows], p), v[rows], out=out[rows])
        outs.append(out)
    return outs


def shared_key_attention(
    x: Tensor, w: Tensor, u: Tensor, values: Sequence[Tensor], workspace: Workspace, scores_max: int
) -> list[Tensor]:
    """Per stage softmax((X*w_i + u_i) X^T) V_i, exact, with at most ``scores_max`` score elements per
    stage in memory: when one stage's (B*h, N, N) scores exceed it, work goes by (sample, head)
    chunks and the backward recomputes the probabilities instead of keeping them.

    x (B, h, N, D); w, u (S, h, D); values[i] (B, h, N, E_i). Returns (B, h, N, E_i) per stage.
    """
    b, h, n, _ = x.shape
    if torch.is_grad_enabled() and any(t.requires_grad for t in (x, w, u, *values)):
        return list(SharedKeyAttention.apply(x, w, u, workspace, scores_max, *values))
    xf, wf, uf = _pairs(x, w, u)
    chunks = _chunks(b * h, n, scores_max)
    scratch = workspace.get("scores", (1, chunks[0].stop, n, n), x)
    flat = [v.reshape(b * h, n, -1) for v in values]
    return [o.view(v.shape) for o, v in zip(_attend(xf, wf, uf, flat, scratch, chunks, keep=False), values)]


class SharedKeyAttention(torch.autograd.Function):
    """Training version: keeps every stage's probabilities (S, B*h, N, N) for the backward when they fit
    in ``scores_max`` per stage, and recomputes them chunk by chunk otherwise."""

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, u: Tensor, workspace: Workspace, scores_max: int,
                *values: Tensor) -> tuple[Tensor, ...]:
        b, h, n, _ = x.shape
        xf, wf, uf = _pairs(x, w, u)
        chunks = _chunks(b * h, n, scores_max)
        keep = len(chunks) == 1
        probs = workspace.get("probs" if keep else "scores", (len(values) if keep else 1, chunks[0].stop, n, n), x)
        flat = [v.reshape(b * h, n, -1) for v in values]
        outs = _attend(xf, wf, uf, flat, probs, chunks, keep)
        ctx.workspace, ctx.chunks, ctx.shape = workspace, chunks, x.shape
        ctx.save_for_backward(xf, wf, uf, probs if keep else None, *flat, *outs)
        return tuple(o.view(v.shape) for o, v in zip(outs, values))

    @staticmethod
    def backward(ctx, *grads: Tensor) -> tuple[Tensor | None, ...]:
        x, w, u, probs, *rest = ctx.saved_tensors
        stages = len(grads)
        values, outs = rest[:stages], rest[stages:]
        b, h, n, d = ctx.shape
        size = ctx.chunks[0].stop
        scratch = ctx.workspace.get("scores", (size, n, n), x) if probs is None else None
        grad_scores = ctx.workspace.get("grad_scores", (size, n, n), x)
        symmetric = ctx.workspace.get("symmetric", (size, n, n), x)
        grad_x = torch.zeros_like(x)
        grad_w, grad_u = torch.empty_like(w), torch.empty_like(u)
        grad_values = []
        for i, (g, v, o) in enumerate(zip(grads, values, outs)):
            g = g.reshape(v.shape[0], n, -1)
            grad_v = torch.empty_like(v)
            for rows in ctx.chunks:
                c = rows.stop - rows.start
                xc, gc, dS, sym = x[rows], g[rows], grad_scores[:c], symmetric[:c]
                p = probs[i, rows] if probs is not None else _stage_scores(xc, w[i, rows], u[i, rows], scratch[:c])
                torch.bmm(p.transpose(1, 2), gc, out=grad_v[rows])
                # Softmax backward, dS = P * (dP - rowsum(dP * P)), with rowsum(dP * P) = rowsum(dO * O).
                torch.bmm(gc, v[rows].transpose(1, 2), out=dS)
                dS.sub_((gc * o[rows]).sum(-1, keepdim=True)).mul_(p)
                torch.add(dS, dS.transpose(1, 2), out=sym)
                both = torch.bmm(sym, xc)  # (dS + dS^T) X
                col = dS.sum(1)  # sum over queries: the key-bias column's gradient
                grad_x[rows].addcmul_(both, w[i, rows, None, :]).addcmul_(col[..., None], u[i, rows, None, :])
                grad_w[i, rows] = 0.5 * (xc * both).sum(1)
                grad_u[i, rows] = torch.bmm(col[:, None, :], xc)[:, 0]
            grad_values.append(grad_v.view(b, h, n, -1))
        grad_x = grad_x.view(b, h, n, d)
        grad_w, grad_u = (t.view(stages, b, h, d).sum(1) for t in (grad_w, grad_u))
        return (grad_x, grad_w, grad_u, None, None, *grad_values)
