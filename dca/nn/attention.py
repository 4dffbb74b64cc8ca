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
up to 4x the value work), so this is written out. Work goes by cache-sized tiles of (sample,
head) pairs and query rows; when the scores are too large to keep, the backward recomputes
each tile's probabilities, so memory stays bounded as in flash attention.

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
# Private torch hook (there in the pinned 2.14; may go in any release): looked up once, used via _storage_users.
_use_count = getattr(torch._C, "_storage_Use_Count", None)
# Largest score tile (pairs x query rows x N): 4 MiB in float32, one (sample, head) pair of the
# paper's 784-token grid; measured 10-12% faster than whole-batch tiles that spill the cache.
ROW_TILE_MAX = 2**20


def _storage_users(tensor: Tensor) -> int | None:
    """How many holders ``tensor``'s storage has, or None where this torch cannot say.

    Why the private ``torch._C._storage_Use_Count``: a workspace buffer is busy while any view
    of it lives, including tensors the autograd graph saved for a pending backward, which hold
    the storage from C++ with no Python object; weak references or ``sys.getrefcount`` miss
    those and would hand out a buffer a backward still reads. No public API counts them.
    Where the hook is missing or its signature changed, the workspace allocates afresh:
    correct, only slower.
    """
    if _use_count is None:
        return None
    try:
        return _use_count(tensor.untyped_storage()._cdata)
    except (AttributeError, RuntimeError, TypeError):
        return None


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
            if base.dtype == like.dtype and base.device == like.device and base.numel() >= numel:
                users = _storage_users(base)  # the cache's reference and the check's own handle
                if users is not None and users <= 2:
                    return base[:numel].view(shape)
        with torch.inference_mode(False):  # a normal tensor, usable in and out of inference mode
            base = torch.empty(numel, dtype=like.dtype, device=like.device)
        bases.append(base)
        del bases[:-_KEPT_PER_NAME]
        return base[:numel].view(shape)


def _stage_scores(xq: Tensor, x: Tensor, w: Tensor, u: Tensor, out: Tensor) -> Tensor:
    """Softmax((Xq*w + u) X^T) into ``out`` (c, R, N): c (sample, head) pairs, R query rows ``xq`` (c, R, D)
    of the tokens ``x`` (c, N, D); w and u (c, D)."""
    q = torch.addcmul(u[:, None, :], xq, w[:, None, :])
    torch.bmm(q, x.transpose(1, 2), out=out)
    return torch.softmax(out, dim=-1, out=out)


def _pairs(x: Tensor, w: Tensor, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Flatten (sample, head): x (B*h, N, D), w and u (S, B*h, D)."""
    b, h, n, d = x.shape
    return x.reshape(b * h, n, d), w.repeat(1, b, 1), u.repeat(1, b, 1)


def _tiles(pairs: int, tokens: int) -> list[tuple[slice, slice]]:
    """(pairs, query rows) tiles of at most ``ROW_TILE_MAX`` scores, so that a tile's scores stay in
    cache from the product through the softmax to the values: whole rows for as many (sample, head)
    pairs as fit, else one pair at a time in blocks of rows (ResUNet++'s 3,136 tokens)."""
    if tokens * tokens <= ROW_TILE_MAX:
        size = min(pairs, ROW_TILE_MAX // (tokens * tokens))
        return [(slice(p, min(p + size, pairs)), slice(0, tokens)) for p in range(0, pairs, size)]
    rows = max(1, ROW_TILE_MAX // tokens)
    return [(slice(p, p + 1), slice(r, min(r + rows, tokens))) for p in range(pairs) for r in range(0, tokens, rows)]


def _scratch(workspace: Workspace, name: str, tiles: list[tuple[slice, slice]], tokens: int, like: Tensor) -> Tensor:
    """A buffer (pairs, rows, N) as large as the largest tile."""
    pairs, rows = tiles[0]
    return workspace.get(name, (pairs.stop - pairs.start, rows.stop - rows.start, tokens), like)


def _attend(
    x: Tensor,
    w: Tensor,
    u: Tensor,
    values: Sequence[Tensor],
    probs: Tensor,
    tiles: list[tuple[slice, slice]],
    keep: bool,
) -> list[Tensor]:
    """Per stage softmax((X*w_i + u_i) X^T) V_i on flattened pairs, tile by tile. ``keep``: ``probs`` is
    (S, B*h, N, N) and receives every stage's probabilities; otherwise it is one tile's scratch."""
    outs = []
    for i, v in enumerate(values):
        out = v.new_empty(v.shape)
        for pairs, rows in tiles:
            c, r = pairs.stop - pairs.start, rows.stop - rows.start
            p = probs[i, pairs, rows] if keep else probs[:c, :r]
            scores = _stage_scores(x[pairs, rows], x[pairs], w[i, pairs], u[i, pairs], p)
            torch.bmm(scores, v[pairs], out=out[pairs, rows])
        outs.append(out)
    return outs


def shared_key_attention(
    x: Tensor, w: Tensor, u: Tensor, values: Sequence[Tensor], workspace: Workspace, scores_max: int
) -> list[Tensor]:
    """Per stage softmax((X*w_i + u_i) X^T) V_i, exact, tile by tile (:func:`_tiles`). Training keeps
    every stage's (B*h, N, N) probabilities for the backward when one stage's hold at most
    ``scores_max`` elements, and otherwise recomputes them tile by tile in the backward.

    x (B, h, N, D); w, u (S, h, D); values[i] (B, h, N, E_i). Returns (B, h, N, E_i) per stage.
    """
    b, h, n, _ = x.shape
    if torch.is_grad_enabled() and any(t.requires_grad for t in (x, w, u, *values)):
        return list(SharedKeyAttention.apply(x, w, u, workspace, scores_max, *values))
    xf, wf, uf = _pairs(x, w, u)
    tiles = _tiles(b * h, n)
    flat = [v.reshape(b * h, n, -1) for v in values]
    outs = _attend(xf, wf, uf, flat, _scratch(workspace, "scores", tiles, n, x), tiles, keep=False)
    return [o.view(v.shape) for o, v in zip(outs, values)]


class SharedKeyAttention(torch.autograd.Function):
    """Training version: keeps every stage's probabilities (S, B*h, N, N) for the backward when they fit
    in ``scores_max`` per stage, and recomputes them tile by tile otherwise."""

    @staticmethod
    def forward(
        ctx, x: Tensor, w: Tensor, u: Tensor, workspace: Workspace, scores_max: int, *values: Tensor
    ) -> tuple[Tensor, ...]:
        b, h, n, _ = x.shape
        xf, wf, uf = _pairs(x, w, u)
        tiles = _tiles(b * h, n)
        keep = b * h * n * n <= scores_max
        probs = (
            workspace.get("probs", (len(values), b * h, n, n), x)
            if keep
            else _scratch(workspace, "scores", tiles, n, x)
        )
        flat = [v.reshape(b * h, n, -1) for v in values]
        outs = _attend(xf, wf, uf, flat, probs, tiles, keep)
        ctx.workspace, ctx.tiles, ctx.shape = workspace, tiles, x.shape
        ctx.save_for_backward(xf, wf, uf, probs if keep else None, *flat, *outs)
        return tuple(o.view(v.shape) for o, v in zip(outs, values))

    @staticmethod
    def backward(ctx, *grads: Tensor) -> tuple[Tensor | None, ...]:
        x, w, u, probs, *rest = ctx.saved_tensors
        stages = len(grads)
        values, outs = rest[:stages], rest[stages:]
        b, h, n, d = ctx.shape
        tiles = ctx.tiles
        scratch = _scratch(ctx.workspace, "scores", tiles, n, x) if probs is None else None
        grad_scores = _scratch(ctx.workspace, "grad_scores", tiles, n, x)
        whole_rows = tiles[0][1].stop - tiles[0][1].start == n
        symmetric = _scratch(ctx.workspace, "symmetric", tiles, n, x) if whole_rows else None
        grad_x = torch.zeros_like(x)
        grad_w, grad_u = torch.zeros_like(w), torch.zeros_like(u)
        grad_values = []
        for i, (g, v, o) in enumerate(zip(grads, values, outs)):
            g = g.reshape(v.shape[0], n, -1)
            grad_v = torch.zeros_like(v)
            for pairs, rows in tiles:
                c, r = pairs.stop - pairs.start, rows.stop - rows.start
                xc, xr, gr, dS = x[pairs], x[pairs, rows], g[pairs, rows], grad_scores[:c, :r]
                wi, ui = w[i, pairs, None, :], u[i, pairs, None, :]
                p = (
                    probs[i, pairs, rows]
                    if probs is not None
                    else _stage_scores(xr, xc, w[i, pairs], u[i, pairs], scratch[:c, :r])
                )
                grad_v[pairs].baddbmm_(p.transpose(1, 2), gr)
                # Softmax backward, dS = P * (dP - rowsum(dP * P)), with rowsum(dP * P) = rowsum(dO * O).
                torch.bmm(gr, v[pairs].transpose(1, 2), out=dS)
                dS.sub_((gr * o[pairs, rows]).sum(-1, keepdim=True)).mul_(p)
                col = dS.sum(1)  # sum over queries: the key-bias column's gradient
                grad_u[i, pairs] += torch.bmm(col[:, None, :], xc)[:, 0]
                if whole_rows:  # one product for both sides: (dS + dS^T) X
                    both = torch.bmm(torch.add(dS, dS.transpose(1, 2), out=symmetric[:c]), xc)
                    grad_x[pairs].addcmul_(both, wi).addcmul_(col[..., None], ui)
                    grad_w[i, pairs] += 0.5 * (xc * both).sum(1)
                else:  # query side dS X on this tile's rows, key side dS^T Q on every row
                    query_side = torch.bmm(dS, xc)
                    grad_x[pairs, rows].addcmul_(query_side, wi)
                    grad_x[pairs].baddbmm_(dS.transpose(1, 2), torch.addcmul(ui, xr, wi))
                    grad_w[i, pairs] += (xr * query_side).sum(1)
            grad_values.append(grad_v.view(b, h, n, -1))
        grad_x = grad_x.view(b, h, n, d)
        grad_w, grad_u = (t.view(stages, b, h, d).sum(1) for t in (grad_w, grad_u))
        return (grad_x, grad_w, grad_u, None, None, *grad_values)
