"""Expected-gradients SHAP values of a trained network: shap's GradientExplainer and a fast path.

Both engines estimate the same quantity, the expected gradients of Erion et al. (2021) that
``shap.GradientExplainer`` implements: for an explained input ``x`` and output (class) ``c``,

    phi_c(x) = E_{x' ~ background, alpha ~ U(0, 1)} [ d f_c(x' + alpha (x - x')) / dx * (x - x') ],

estimated with ``nsamples`` draws of ``(x', alpha)`` per explained input. As in shap, the draws of
one input are shared by all outputs, and ``f`` is the network's output (the logits).

:class:`ShapGradient` calls ``shap.GradientExplainer`` (the reference; one backward per class,
per cell, per batch of 50 interpolants). :class:`ExpectedGradients` computes the same estimator
vectorised in torch, in two ways:

``"generic"``
    any network: interpolants of many cells in large batches and the gradients of all classes
    in one batched backward (``torch.autograd.grad(..., is_grads_batched=True)``).
``"structured"``
    when the network reads its input through one ``nn.Linear`` (every scautogenome classifier
    does), the interpolants are built after that layer (it is affine, so
    ``W (b + alpha (x - b)) = Wb + alpha (Wx - Wb)``), the backward runs in the hidden space, and
    the projection back to genes is grouped by background cell:
    ``phi_c(x) = x * (mean_k g_k W) - (1/S) sum_r b_r * ((sum_{k: r_k = r} g_k) W)`` with the
    zero entries of sparse background cells skipped. Same estimator, same draws, far fewer flops.

Nothing here knows AnnData; inputs are dense float32 rows on the model's input scale.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .._settings import logger
from ..nn import InputGenes

MAX_FLOATS = 2**25
"""Float budget of one working buffer (128 MB in float32); chunks are sized to stay below it."""

_SPARSE_BELOW = 0.5  # background density under which the structured path skips zero entries


@dataclass
class Draws:
    """The random part of the estimator: per explained cell and sample, a background row and
    an interpolation point ``alpha`` in [0, 1)."""

    rows: np.ndarray
    alphas: np.ndarray

    def __post_init__(self) -> None:
        self.rows = np.asarray(self.rows, dtype=np.int64)
        self.alphas = np.asarray(self.alphas, dtype=np.float32)
        if self.rows.shape != self.alphas.shape or self.rows.ndim != 2:
            msg = f"Draws need rows and alphas of one 2-d shape, got {self.rows.shape} and {self.alphas.shape}."
            raise ValueError(msg)

    @property
    def nsamples(self) -> int:
        return self.rows.shape[1]

    def __getitem__(self, cells) -> Draws:
        return Draws(self.rows[cells], self.alphas[cells])


def sample_draws(
    n_cells: int, n_background: int, nsamples: int, seed: int | np.random.SeedSequence
) -> Draws:
    """``nsamples`` i.i.d. draws per cell: a uniform background row and ``alpha ~ U(0, 1)`` (the
    distribution ``shap.GradientExplainer`` samples from), from a seeded numpy generator."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n_background, size=(n_cells, nsamples))
    alphas = rng.random((n_cells, nsamples)).astype(np.float32)
    return Draws(rows, alphas)


def shap_draws(n_cells: int, n_background: int, nsamples: int, rseed: int) -> Draws:
    """The exact draws ``GradientExplainer.shap_values(X, nsamples, rseed=rseed)`` makes for a
    block of ``n_cells`` inputs (numpy's legacy generator, one ``choice`` then one ``uniform``
    per sample). Slow (a Python loop); meant for tests that compare the two engines draw for draw.
    """
    rs = np.random.RandomState(rseed)
    rows = np.empty((n_cells, nsamples), dtype=np.int64)
    alphas = np.empty((n_cells, nsamples), dtype=np.float64)
    for j in range(n_cells):
        for k in range(nsamples):
            rows[j, k] = rs.choice(n_background)
            alphas[j, k] = rs.uniform()
    return Draws(rows, alphas)


def _class_grads(fn, inp: torch.Tensor, state: dict) -> torch.Tensor:
    """Gradients of every output column of ``fn(inp)`` w.r.t. ``inp``: (n_outputs, *inp.shape).

    One batched (vmapped) backward; falls back to one backward per class where an operation of
    the network does not support batched gradients.
    """
    out = fn(inp)
    n_out = out.shape[1]
    if state.get("batched", True):
        eye = torch.eye(n_out, device=out.device, dtype=out.dtype)[:, None, :]
        try:
            (g,) = torch.autograd.grad(
                out, inp, grad_outputs=eye.expand(n_out, *out.shape), is_grads_batched=True
            )
            return g
        except RuntimeError as err:  # pragma: no cover - depends on the network's operations
            logger.debug("batched gradients not supported (%s); one backward per class", err)
            state["batched"] = False
            out = fn(inp)
    grads = [
        torch.autograd.grad(out[:, c].sum(), inp, retain_graph=c + 1 < n_out)[0]
        for c in range(n_out)
    ]
    return torch.stack(grads)


def _split_first_linear(
    module: nn.Module, n_inputs: int, probe: torch.Tensor
) -> tuple[nn.Linear, nn.Module] | None:
    """``(linear, rest)`` with ``module(x) == rest(linear(x))``, or None when the network does
    not read its input through one ``nn.Linear`` (checked numerically on ``probe``; of several
    layers as wide as the input, the one that passes).

    A network that reads only some genes (:class:`~scautogenome.nn.InputGenes`) gets a
    ``linear`` of all ``n_inputs`` whose columns of the other genes are 0, and a ``rest``
    without its gene selection."""
    selects = [
        (name, m)
        for name, m in module.named_modules()
        if isinstance(m, InputGenes) and m.index is not None
    ]
    if len(selects) > 1:
        return None
    n_read = selects[0][1].n_read if selects else n_inputs
    with torch.no_grad():
        want = module(probe)
    for name, linear in module.named_modules():
        if isinstance(linear, nn.Linear) and linear.in_features == n_read:
            split = _split_at(module, name, linear, selects, n_inputs)
            if _same(split, probe, want):
                return split
    return None


def _split_at(module, name: str, linear: nn.Linear, selects: list, n_inputs: int):
    """``(linear, rest)`` for the layer ``name``: ``rest`` is ``module`` without it (and
    without its gene selection, ``selects``), ``linear`` that layer over all ``n_inputs``
    (0 for the genes it does not read)."""
    rest = copy.deepcopy(module)
    for dotted in [name] + [n for n, _ in selects]:
        parent_name, _, attr = dotted.rpartition(".")
        parent = rest.get_submodule(parent_name) if parent_name else rest
        setattr(parent, attr, nn.Identity())
    rest.eval()
    if not selects:
        return linear, rest
    w = linear.weight
    # built without an initialisation, which would draw from torch's random state
    full = torch.nn.utils.skip_init(
        nn.Linear,
        n_inputs,
        linear.out_features,
        bias=linear.bias is not None,
        device=w.device,
        dtype=w.dtype,
    )
    with torch.no_grad():
        full.weight.zero_()
        full.weight[:, selects[0][1].index] = w
        if linear.bias is not None:
            full.bias.copy_(linear.bias)
    return full, rest


def _same(split, probe: torch.Tensor, want: torch.Tensor) -> bool:
    """Whether ``rest(linear(probe))`` gives the network's output ``want``."""
    linear, rest = split
    try:
        with torch.no_grad():
            got = rest(linear(probe))
    except RuntimeError:
        return False
    tol = 1e-4 * (1.0 + float(want.abs().max()))
    return got.shape == want.shape and bool((got - want).abs().max() <= tol)


def _activation_width(module: nn.Module) -> int:
    """Rough number of activations one input row creates (sizes the chunks)."""
    return 4 * sum(m.out_features for m in module.modules() if isinstance(m, nn.Linear)) + 1


class ExpectedGradients:
    """Expected gradients of every class of ``module``, vectorised in torch (``method="fast"``).

    Parameters
    ----------
    module
        The trained network (inputs on the model's scale -> logits); put in eval mode.
    background
        Background rows (n_background x n_genes), on the model's input scale.
    draws
        :class:`Draws` for every cell that will be explained (row ``i`` is used for cell ``i``).
    device
        Where the work runs (the model's device).
    path
        ``"auto"`` (structured when the network allows it), ``"structured"`` or ``"generic"``.
    max_floats
        Float budget of one working buffer; bounds memory.
    """

    name = "fast"

    def __init__(
        self,
        module: nn.Module,
        background: np.ndarray,
        draws: Draws,
        *,
        device: torch.device | str = "cpu",
        path: str = "auto",
        max_floats: int = MAX_FLOATS,
    ) -> None:
        if path not in ("auto", "structured", "generic"):
            msg = f"path={path!r} must be 'auto', 'structured' or 'generic'."
            raise ValueError(msg)
        self.device = torch.device(device)
        self.module = module.eval()
        self.bg = torch.as_tensor(np.asarray(background, dtype=np.float32), device=self.device)
        self.draws = draws
        self.max_floats = int(max_floats)
        self.n_background, self.n_genes = self.bg.shape
        if draws.rows.size and draws.rows.max() >= self.n_background:
            msg = f"Draws refer to background row {draws.rows.max()} of {self.n_background}."
            raise ValueError(msg)
        with torch.no_grad():
            self.base_values = self.module(self.bg).mean(0).cpu().numpy()
        self.n_classes = len(self.base_values)
        split = None
        if path != "generic":
            split = _split_first_linear(self.module, self.n_genes, self.bg[: min(16, len(self.bg))])
            if split is None and path == "structured":
                msg = (
                    "path='structured' needs a network that reads its input through one nn.Linear."
                )
                raise ValueError(msg)
        self.path = "structured" if split is not None else "generic"
        self._state: dict = {}
        self._width = _activation_width(self.module)
        if split is not None:
            self.linear, self.rest = split
            with torch.no_grad():
                self.WT = self.linear.weight.detach().T.contiguous()  # genes x hidden
                self.zb = self.linear(self.bg)  # background after the input layer
            self.n_hidden = self.WT.shape[1]
            density = float((self.bg != 0).float().mean())
            self.support = None
            if density < _SPARSE_BELOW:
                self.support = [torch.nonzero(row).flatten() for row in self.bg]
            if path == "auto" and self._structured_floats(1, self.n_genes) > self.max_floats:
                # one cell's gradient blocks alone are over the budget (a large background
                # of many classes and wide layers): the generic path's batches are bounded
                self.path = "generic"
        logger.debug("expected gradients: %s path, %d classes", self.path, self.n_classes)

    # -- sizing ----------------------------------------------------------------------------------
    def cells_per_chunk(self, n_genes_out: int | None = None) -> int:
        """How many cells one call of :meth:`attributions` should get to stay in budget."""
        g = self.n_genes if n_genes_out is None else n_genes_out
        if self.path != "structured":
            return max(1, self.max_floats // (2 * self.n_classes * g))
        # the largest n that fits (the floats grow with n)
        low, high = 1, max(1, self.max_floats // (2 * self.n_classes * g))
        while low < high:
            mid = (low + high + 1) // 2
            if self._structured_floats(mid, g) <= self.max_floats:
                low = mid
            else:
                high = mid - 1
        return low

    def _structured_floats(self, n: int, g: int) -> int:
        """Floats of the structured path for ``n`` cells and ``g`` output genes: the gradient
        blocks of each (background row drawn, cell) pair and their sum, twice (the blocks
        are transposed into a copy), and the SHAP values with their accumulator."""
        refs = min(self.n_background, n * self.draws.nsamples)
        return 2 * n * self.n_classes * (self.n_hidden * (refs + 1) + g)

    def _rows_per_batch(self, width: int) -> int:
        return max(1, self.max_floats // (self.n_classes * (width + self._width)))

    # -- the estimator ---------------------------------------------------------------------------
    def attributions(
        self, x: np.ndarray, cells: np.ndarray, genes: np.ndarray | None = None
    ) -> np.ndarray:
        """SHAP values (n_cells x n_genes x n_classes, float32) of the rows ``x`` (model scale),
        which are the explained cells number ``cells`` (their rows of the draws); ``genes``
        restricts the output to those gene columns."""
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=self.device)
        draws = self.draws[np.asarray(cells)]
        rows = torch.as_tensor(draws.rows, device=self.device)
        alphas = torch.as_tensor(draws.alphas, device=self.device)
        gi = None if genes is None else torch.as_tensor(np.asarray(genes), device=self.device)
        with torch.enable_grad():
            if self.path == "structured":
                phi = self._structured(xt, rows, alphas, gi)
            else:
                phi = self._generic(xt, rows, alphas, gi)
        return phi.permute(0, 2, 1).contiguous().cpu().numpy()  # cells x genes x classes

    def _flat(self, rows: torch.Tensor, alphas: torch.Tensor):
        n, s = rows.shape
        cell = torch.arange(n, device=self.device).repeat_interleave(s)
        return cell, rows.reshape(-1), alphas.reshape(-1, 1)

    def _generic(self, x, rows, alphas, genes) -> torch.Tensor:
        n, s = rows.shape
        n_out = self.n_genes if genes is None else len(genes)
        phi = torch.zeros(n, self.n_classes, n_out, device=self.device)
        cell, ref, alpha = self._flat(rows, alphas)
        step = self._rows_per_batch(self.n_genes)
        for p in range(0, n * s, step):
            j, r, a = cell[p : p + step], ref[p : p + step], alpha[p : p + step]
            delta = x[j] - self.bg[r]
            xp = (self.bg[r] + a * delta).requires_grad_(True)
            g = _class_grads(self.module, xp, self._state)  # classes x batch x genes
            if genes is not None:
                g, delta = g[:, :, genes], delta[:, genes]
            phi.index_add_(0, j, (g * delta).permute(1, 0, 2))
        return phi / s

    def _structured(self, x, rows, alphas, genes) -> torch.Tensor:
        n, s = rows.shape
        n_cls, n_h = self.n_classes, self.n_hidden
        with torch.no_grad():
            zx = self.linear(x)
        g_sum = torch.zeros(n, n_cls, n_h, device=self.device)
        cell, ref, alpha = self._flat(rows, alphas)
        # the background rows these cells drew, numbered 0..k-1 (a background of thousands
        # of rows would otherwise hold a block for each row per cell)
        drawn, slot = torch.unique(ref, return_inverse=True)
        g_by_ref = torch.zeros(len(drawn) * n, n_cls, n_h, device=self.device)  # (ref, cell)
        step = self._rows_per_batch(n_h)
        for p in range(0, n * s, step):
            j, r, a = cell[p : p + step], ref[p : p + step], alpha[p : p + step]
            z = (self.zb[r] + a * (zx[j] - self.zb[r])).detach().requires_grad_(True)
            g = _class_grads(self.rest, z, self._state).permute(1, 0, 2)  # batch x classes x hidden
            g_sum.index_add_(0, j, g)
            g_by_ref.index_add_(0, slot[p : p + step] * n + j, g)
        with torch.no_grad():
            WT = self.WT if genes is None else self.WT[genes]  # genes x hidden
            xs = x if genes is None else x[:, genes]
            bg = self.bg if genes is None else self.bg[:, genes]
            # x * (mean gradient) W: one GEMM for all cells and classes
            phi = (g_sum.reshape(n * n_cls, n_h) @ WT.T).reshape(n, n_cls, -1) * xs[:, None, :]
            # - (1/S) sum_r b_r * (summed gradients of the samples drawn from r) W, accumulated
            # genes-first so that sparse background rows scatter whole rows
            blocks = g_by_ref.reshape(len(drawn), n * n_cls, n_h).transpose(1, 2).contiguous()
            del g_by_ref
            acc = torch.zeros(WT.shape[0], n * n_cls, device=self.device)
            sparse = self.support is not None and genes is None
            for k, r in enumerate(drawn.tolist()):
                if sparse:
                    nz = self.support[r]
                    if len(nz):
                        acc.index_add_(0, nz, (WT[nz] * bg[r, nz, None]) @ blocks[k])
                else:
                    acc.addmm_(WT * bg[r, :, None], blocks[k])
            phi -= acc.T.reshape(n, n_cls, -1)
        return phi / s


class ShapGradient:
    """``shap.GradientExplainer`` on the network (``method="shap"``), the reference engine.

    Each call of :meth:`attributions` is one ``shap_values`` call seeded with
    ``seed + index of its first cell``; numpy's global random state, which shap reseeds, is put
    back afterwards.
    """

    name = "shap"
    path = "shap.GradientExplainer"

    def __init__(
        self,
        module: nn.Module,
        background: np.ndarray,
        *,
        nsamples: int,
        seed: int,
        device: torch.device | str = "cpu",
        batch_size: int = 50,
        max_floats: int = MAX_FLOATS,
    ) -> None:
        try:
            import shap
        except ImportError as err:  # pragma: no cover - shap is a dependency
            msg = "method='shap' needs the shap package: pip install shap"
            raise ImportError(msg) from err
        self.device = torch.device(device)
        self.module = module.eval()
        bg = torch.as_tensor(np.asarray(background, dtype=np.float32), device=self.device)
        self.n_background, self.n_genes = bg.shape
        self.nsamples, self.seed, self.max_floats = int(nsamples), int(seed), int(max_floats)
        with torch.no_grad():
            self.base_values = self.module(bg).mean(0).cpu().numpy()
        self.n_classes = len(self.base_values)
        self.explainer = shap.GradientExplainer(self.module, bg, batch_size=batch_size)

    def cells_per_chunk(self, n_genes_out: int | None = None) -> int:
        # shap holds nsamples interpolants and float64 results of every class for the chunk
        per_cell = 2 * self.n_classes * self.n_genes + self.nsamples
        return max(1, min(64, self.max_floats // per_cell))

    def attributions(
        self, x: np.ndarray, cells: np.ndarray, genes: np.ndarray | None = None
    ) -> np.ndarray:
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=self.device)
        state = np.random.get_state()  # noqa: NPY002 - shap reseeds the legacy global generator
        try:
            vals = self.explainer.shap_values(
                xt, nsamples=self.nsamples, rseed=(self.seed + int(cells[0])) % 2**32
            )
        finally:
            np.random.set_state(state)  # noqa: NPY002
        vals = _per_class_last(vals, len(x), self.n_genes, self.n_classes)
        return vals if genes is None else vals[:, genes, :]


def _per_class_last(vals, n_cells: int, n_genes: int, n_classes: int) -> np.ndarray:
    """``GradientExplainer.shap_values`` output as n_cells x n_genes x n_classes float32: a
    list of per-class n_cells x n_genes arrays (shap < 0.45), that array (shap >= 0.45), or
    for a network of one output its n_cells x n_genes values."""
    if isinstance(vals, (list, tuple)):
        vals = np.stack(vals, axis=-1)
    vals = np.asarray(vals, dtype=np.float32)
    if vals.ndim == 2:
        vals = vals[..., None]
    if vals.shape != (n_cells, n_genes, n_classes):
        msg = (
            f"shap.GradientExplainer returned SHAP values of shape {vals.shape}, expected "
            f"{(n_cells, n_genes, n_classes)} (cells x genes x classes); use shap>=0.44."
        )
        raise ValueError(msg)
    return vals
