"""Exact CPU kernel for DCA's spatial cross-attention: shared keys, one key-side GEMM in backward, reused buffers.

For stage i and one head, SCA computes softmax(Q_i K_i^T) V_i with Q_i = X*a_i + b_i and
K_i = X*c_i + d_i: per-channel affine maps of the *same* token matrix X (the normalised
concatenation). A row-wise softmax ignores every term that is constant along a row, so

    softmax(Q_i K_i^T) = softmax((X*w_i + u_i) X^T),   w_i = a_i*c_i,  u_i = b_i*c_i,

exactly: every stage shares the keys X, and the key bias d_i drops out (its true gradient is
zero). The score matrix is then X diag(w_i) X^T (symmetric) plus a bias column, which halves
the key-side backward: dX = ((dS + dS^T) X) * w_i + colsum(dS) u_i, one N x N x D product
where autograd runs two (dQ = dS K and dK = dS^T Q). torch has no fused CPU attention for V
narrower than Q/K (SCA's case), so this is written out; the fused kernel still serves large
grids in training (see ``SpatialCrossAttention``), where storing the scores would cost too much.

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
        base = torch.empty(numel, dtype=like.dtype, device=like.device)
        bases.append(base)
        del bases[:-_KEPT_PER_NAME]
        return base[:numel].view(shape)


def _stage_scores(x: Tensor, w: Tensor, u: Tensor, out: Tensor) -> Tensor:
    """Softmax((X*w + u) X^T) into ``out`` (B*h, N, N); x (B, h, N, D), w and u (h, D)."""
    b, h, n, d = x.shape
    q = torch.addcmul(u[:, None, :], x, w[:, None, :]).view(b * h, n, d)
    torch.bmm(q, x.view(b * h, n, d).transpose(1, 2), out=out)
    return torch.softmax(out, dim=-1, out=out)


def shared_key_attention_inference(
    x: Tensor, w: Tensor, u: Tensor, values: Sequence[Tensor], workspace: Workspace, scores_max: int
) -> list[Tensor]:
    """Forward only: per stage softmax((X*w_i + u_i) X^T) V_i, in (batch x head) chunks of at most
    ``scores_max`` score elements, so memory stays bounded on any grid.

    x (B, h, N, D); w, u (S, h, D); values[i] (B, h, N, E_i). Returns (B, h, N, E_i) per stage.
    """
    b, h, n, d = x.shape
    xf = x.reshape(b * h, n, d)
    chunk = max(1, min(b * h, scores_max // (n * n)))
    buffer = workspace.get("scores", (chunk, n, n), x)
    wf, uf = w.repeat(1, b, 1), u.repeat(1, b, 1)  # (S, B*h, D): one row per (sample, head)
    outs = []
    for i, v in enumerate(values):
        vf = v.reshape(b * h, n, -1)
        out = torch.empty_like(vf)
        for start in range(0, b * h, chunk):
            stop = min(start + chunk, b * h)
            scores = _stage_scores(xf[None, start:stop], wf[i, start:stop], uf[i, start:stop], buffer[: stop - start])
            torch.bmm(scores, vf[start:stop], out=out[start:stop])
        outs.append(out.view(v.shape))
    return outs


class SharedKeyAttention(torch.autograd.Function):
    """Training version: keeps every stage's probabilities (S, B*h, N, N) for the backward."""

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, u: Tensor, workspace: Workspace, *values: Tensor) -> tuple[Tensor, ...]:
        b, h, n, _ = x.shape
        probs = workspace.get("probs", (len(values), b * h, n, n), x)
        outs = []
        for i, v in enumerate(values):
            _stage_scores(x, w[i], u[i], probs[i])
            outs.append(torch.bmm(probs[i], v.reshape(b * h, n, -1)).view(v.shape))
        ctx.workspace = workspace
        ctx.save_for_backward(x, w, u, probs, *values, *outs)
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads: Tensor) -> tuple[Tensor | None, ...]:
        x, w, u, probs, *rest = ctx.saved_tensors
        stages = len(grads)
        values, outs = rest[:stages], rest[stages:]
        b, h, n, d = x.shape
        xf = x.view(b * h, n, d)
        grad_scores = ctx.workspace.get("grad_scores", (b * h, n, n), x)
        symmetric = ctx.workspace.get("symmetric", (b * h, n, n), x)
        grad_x = torch.zeros_like(x)
        grad_w, grad_u = torch.empty_like(w), torch.empty_like(u)
        grad_values = []
        for i, (g, v, o) in enumerate(zip(grads, values, outs)):
            g = g.contiguous()
            gf, vf = g.view(b * h, n, -1), v.reshape(b * h, n, -1)
            grad_values.append(torch.bmm(probs[i].transpose(1, 2), gf).view(v.shape))
            # Softmax backward, dS = P * (dP - rowsum(dP * P)), with rowsum(dP * P) = rowsum(dO * O).
            torch.bmm(gf, vf.transpose(1, 2), out=grad_scores)
            grad_scores.sub_((g * o).sum(-1).view(b * h, n, 1)).mul_(probs[i])
            torch.add(grad_scores, grad_scores.transpose(1, 2), out=symmetric)
            both = torch.bmm(symmetric, xf).view(b, h, n, d)  # (dS + dS^T) X
            col = grad_scores.sum(1).view(b, h, n)  # sum over queries: the key-bias column's gradient
            grad_x.addcmul_(both, w[i][:, None, :]).addcmul_(col[..., None], u[i][:, None, :])
            grad_w[i] = 0.5 * (x * both).sum((0, 2))
            grad_u[i] = torch.einsum("bhm,bhmd->hd", col, x)
        return (grad_x, grad_w, grad_u, None, *grad_values)
