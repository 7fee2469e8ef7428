"""Res-VAE and plain VAE built from FC units (no AnnData here).

The Res-VAE (AutoGenome paper, Fig. 4a) adds skip connections to both the encoder and the
decoder of a VAE and combines them by concatenation: every FC unit after the second takes the
concatenation of the two previous units' outputs, and the latent (or output) heads take the
concatenation of the last two. The decoder mirrors the encoder's widths and is wired the same
way: its skips join its own units' outputs and do not carry the latent code past the first
unit. (A decoder whose second unit also re-read the latent code gave the less compact latent,
higher Davies-Bouldin, on 5 of 8 benchmark datasets; see benchmarks/RESULTS.md.) The plain VAE
is the same stacks without skips.

Batches
-------
With ``n_batch > 0`` the decoder is conditioned on the cell's batch as scVI's is: its one-hot
code joins the input of every decoder unit ("deeply injected"), and the encoder does not see it,
so the latent need not carry what the batch explains and is computed without knowing it.

Likelihoods
-----------
``"mse"``
    The paper's reconstruction of the 0-1 scaled input: sigmoid output, squared error summed
    over genes. As a Gaussian likelihood its noise variance is fixed at 0.5, far above the
    variance of 0-1 scaled genes, so the KL term dominates: on sparse single-cell data the
    latent collapses (worm_neuron_cao2017: no dimension varies across cells; see
    benchmarks/RESULTS.md).
``"gaussian"``
    The same sigmoid output under a Gaussian whose variance, one for all genes, is the batch's
    mean squared error (floored at ``MIN_GAUSSIAN_VAR``): the optimal-variance "calibrated
    decoder" of Rybkin et al. 2021 (sigma-VAE), which weighs the reconstruction against the KL
    term by how well it fits. What ``likelihood="auto"`` picks for values that are not counts.
    A variance per gene was measured as well and not kept: the searched Res-VAE scored a lower
    ARI with it on pollen2014 (0.87 vs 0.93), and the start model's ARI over the seven count
    datasets had the same mean (benchmarks/RESULTS.md).
``"nb"`` / ``"zinb"``
    Raw counts: the decoder gives gene frequencies (softmax); the mean is the cell's observed
    library size times them (as scVI does with ``use_observed_lib_size=True``), with a
    gene-wise inverse dispersion and, for ``"zinb"``, per-cell/gene dropout logits. The
    distributions are scvi-tools' ``NegativeBinomial`` / ``ZeroInflatedNegativeBinomial``; the
    losses call the log-likelihoods behind their ``log_prob`` directly (:func:`nb_log_prob`,
    :func:`zinb_log_prob`).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from ._units import Dropout, FCUnit, InputGenes

# likelihoods of the 0-1 scaled input the encoder sees, and of the raw counts
SCALED_LIKELIHOODS = ("mse", "gaussian")
COUNT_LIKELIHOODS = ("nb", "zinb")
LIKELIHOODS = SCALED_LIKELIHOODS + COUNT_LIKELIHOODS
# floor of the gaussian likelihood's variance on the 0-1 scale
MIN_GAUSSIAN_VAR = 1e-4
VAE_KINDS = ("resvae", "vae")
_ARCH_KEYS = {
    "kind",
    "n_inputs",
    "n_latent",
    "widths",
    "input_keep",
    "dropout",
    "act",
    "likelihood",
    "n_batch",
}


def require_scvi(likelihood: str) -> None:
    """Raise ImportError with an install hint when a count likelihood lacks scvi-tools."""
    import importlib.util

    if likelihood in COUNT_LIKELIHOODS and importlib.util.find_spec("scvi") is None:
        msg = (
            f"likelihood={likelihood!r} uses scvi-tools' count distributions; install it with "
            "`pip install scvi-tools`, or use likelihood='gaussian'."
        )
        raise ImportError(msg)


def vae_widths(n_layers: int, first_width: int, decay: float, n_latent: int) -> list[int]:
    """Encoder widths: ``first_width`` decaying by ``decay`` per layer, never below ``n_latent``."""
    if n_layers < 1:
        msg = f"n_layers={n_layers!r} must be at least 1."
        raise ValueError(msg)
    if not 0 < decay <= 1:
        msg = f"decay={decay!r} must be in (0, 1]."
        raise ValueError(msg)
    return [max(int(n_latent), round(first_width * decay**i)) for i in range(int(n_layers))]


def scvi_module(name: str = "scvi.distributions"):
    """The scvi-tools module ``name``, imported leaving torch's ``cudnn.benchmark`` as it was.

    scvi-tools' first import turns that flag on for the whole process (its total VAE module
    sets it), which makes the user's own cuDNN convolutions pick their algorithms by timing,
    so that they no longer repeat run to run; a count likelihood is all sag imports scvi-tools
    for. (The import's other traces, the ``scvi`` and ``lightning`` loggers' handlers and two
    environment variables for JAX and NVML, are those of any ``import scvi`` and change no
    result.)"""
    import importlib

    benchmark = torch.backends.cudnn.benchmark
    try:
        return importlib.import_module(name)
    finally:
        torch.backends.cudnn.benchmark = benchmark


@functools.cache
def _scvi_log_likelihood(name: str):
    """scvi-tools' log-likelihood function ``name`` (``log_nb_positive``,
    ``log_zinb_positive``), looked up once; ``None`` if a release moved it."""
    try:
        negative_binomial = scvi_module("scvi.distributions._negative_binomial")
    except ImportError:  # pragma: no cover - depends on the scvi-tools release
        return None
    return getattr(negative_binomial, name, None)


def nb_log_prob(x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Negative-binomial log-likelihood of counts ``x`` (cells x genes) at means ``mu`` and a
    gene-wise inverse dispersion ``theta`` (genes), elementwise.

    It is scvi-tools' own formula (``log_nb_positive``, what ``NegativeBinomial.log_prob``
    calls), given ``theta`` as it is: ``NegativeBinomial`` first broadcasts it to the batch's
    shape, so ``lgamma(theta)`` and its ``digamma`` gradient run once per cell and gene instead
    of once per gene. That made a Res-VAE epoch 17-18% slower (benchmarks/RESULTS.md). If a
    scvi-tools release moves the function, the public distribution is used instead.
    """
    log_nb = _scvi_log_likelihood("log_nb_positive")
    if log_nb is None:  # pragma: no cover - depends on the scvi-tools release
        dist = scvi_module().NegativeBinomial(mu=mu, theta=theta, validate_args=False)
        return dist.log_prob(x)
    return log_nb(x, mu, theta)


def zinb_log_prob(
    x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor, zi_logits: torch.Tensor
) -> torch.Tensor:
    """Zero-inflated NB log-likelihood, elementwise: :func:`nb_log_prob` with per-cell/gene
    dropout logits ``zi_logits``, through scvi-tools' ``log_zinb_positive`` (what
    ``ZeroInflatedNegativeBinomial.log_prob`` calls) with the gene-wise ``theta`` unbroadcast,
    for the same reason."""
    log_zinb = _scvi_log_likelihood("log_zinb_positive")
    if log_zinb is None:  # pragma: no cover - depends on the scvi-tools release
        zinb = scvi_module().ZeroInflatedNegativeBinomial
        dist = zinb(mu=mu, theta=theta, zi_logits=zi_logits)
        return dist.log_prob(x)
    return log_zinb(x, mu, theta, zi_logits)


class SkipStack(nn.Module):
    """FC units where unit ``i >= 3`` (and the output) sees ``cat(h[i-1], h[i-2])``.

    ``h[i]`` is the output of unit ``i``; the skips start at the first unit's output, so the
    stack's own input (genes in the encoder, the latent code in the decoder) feeds the first
    unit only. ``skip=False`` gives a plain stack. ``n_cov`` covariate columns (a one-hot
    batch) join every unit's input when ``forward`` is given them.
    """

    def __init__(
        self,
        n_in: int,
        widths: list[int],
        *,
        skip: bool,
        act: str = "relu",
        dropout: float = 0.0,
        n_cov: int = 0,
    ) -> None:
        super().__init__()
        self.skip = skip
        self.n_cov = int(n_cov)
        outs: list[int] = [n_in]  # widths of h[0], h[1], ...
        units = []
        for i, w in enumerate(widths):
            n_unit_in = self._in_width(outs, i + 1) + self.n_cov
            units.append(FCUnit(n_unit_in, int(w), act=act, dropout=dropout))
            outs.append(int(w))
        self.units = nn.ModuleList(units)
        self.n_out = self._in_width(outs, len(widths) + 1)

    def _can_skip(self, i: int) -> bool:
        # h[i-2] is the output of an earlier unit (h[0], the stack's input, is not re-read)
        return self.skip and i >= 3

    def _in_width(self, outs: list[int], i: int) -> int:
        return outs[i - 1] + (outs[i - 2] if self._can_skip(i) else 0)

    def _join(self, hs: list[torch.Tensor], i: int) -> torch.Tensor:
        if self._can_skip(i):
            return torch.cat([hs[i - 1], hs[i - 2]], dim=1)
        return hs[i - 1]

    def forward(self, x: torch.Tensor, cov: torch.Tensor | None = None) -> torch.Tensor:
        hs = [x]
        for i, unit in enumerate(self.units, start=1):
            h = self._join(hs, i)
            hs.append(unit(h if cov is None else torch.cat([h, cov.to(h.dtype)], dim=1)))
        return self._join(hs, len(self.units) + 1)


class VAEModule(nn.Module):
    """Encoder -> Gaussian latent -> decoder, with the reconstruction likelihood's heads.

    Parameters
    ----------
    n_inputs
        Number of genes.
    n_latent
        Latent dimensions.
    widths
        Encoder FC widths (the decoder uses them reversed).
    skip
        Concatenation skips (Res-VAE) or none (plain VAE).
    input_keep
        Keep ratio of the input features (the paper's first-layer drop-out).
    dropout
        Dropout probability after every FC unit of the encoder and the decoder (0: none).
    act
        Activation of the FC units, one of :data:`~scautogenome.nn.ACTIVATIONS`.
    likelihood
        ``"mse"``, ``"gaussian"``, ``"nb"`` or ``"zinb"``.
    n_batch
        Number of batches the decoder is conditioned on (0: none); the batch is then given to
        :meth:`forward` and :meth:`decode` as integer codes.
    reads
        Positions of the genes the encoder reads and the decoder reconstructs (None: all; see
        :class:`~scautogenome.nn.InputGenes`): a gene constant on the training cells carries
        nothing to encode and its reconstruction is its constant, so both leave it out (half
        of an unfiltered count matrix's genes can be such genes; :meth:`widen` puts the
        decoded genes back among all ``n_inputs``).
    decode_all
        The decoder reconstructs all ``n_inputs`` genes, whatever the encoder reads: the
        networks saved on 2026-12-05 before the decoder left genes out, loaded as they were.
    """

    def __init__(
        self,
        n_inputs: int,
        *,
        n_latent: int,
        widths: list[int],
        skip: bool = True,
        input_keep: float = 1.0,
        dropout: float = 0.0,
        act: str = "relu",
        likelihood: str = "mse",
        n_batch: int = 0,
        reads=None,
        decode_all: bool = False,
    ) -> None:
        super().__init__()
        if likelihood not in LIKELIHOODS:
            msg = f"likelihood={likelihood!r} must be one of {LIKELIHOODS}."
            raise ValueError(msg)
        if not 0 < input_keep <= 1:
            msg = f"input_keep={input_keep!r} must be in (0, 1]."
            raise ValueError(msg)
        if n_latent < 1 or not widths:
            msg = f"n_latent={n_latent!r} must be >= 1 and widths={widths!r} non-empty."
            raise ValueError(msg)
        self.n_inputs, self.n_latent, self.likelihood = n_inputs, n_latent, likelihood
        self.n_batch = int(n_batch)
        self.genes = InputGenes(n_inputs, reads)
        self.input_drop = Dropout(1 - input_keep) if input_keep < 1 else nn.Identity()
        self.encoder = SkipStack(self.genes.n_read, widths, skip=skip, act=act, dropout=dropout)
        self.genes.init_first_layer(self.encoder.units[0][0])
        self.mean = nn.Linear(self.encoder.n_out, n_latent)
        self.logvar = nn.Linear(self.encoder.n_out, n_latent)
        self.decoder = SkipStack(
            n_latent,
            list(reversed(widths)),
            skip=skip,
            act=act,
            dropout=dropout,
            n_cov=self.n_batch,
        )
        self.decode_all = bool(decode_all) or self.genes.index is None
        n_out = n_inputs if self.decode_all else self.genes.n_read  # the genes it reconstructs
        self.out = nn.Linear(self.decoder.n_out, n_out)
        if likelihood not in SCALED_LIKELIHOODS:
            self.log_theta = nn.Parameter(torch.zeros(n_out))
        if likelihood == "zinb":
            self.zi = nn.Linear(self.decoder.n_out, n_out)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The Gaussian posterior of the latent code: the read genes of ``x`` through the input
        dropout and the encoder.

        Parameters
        ----------
        x
            Cells x genes, the 0-1 scaled input (all ``n_inputs`` genes, or the ``n_read`` genes
            it reads).

        Returns
        -------
        ``(mu, logvar)``: cells x ``n_latent`` means and log-variances (clamped to
        [-15, 15]).
        """
        h = self.encoder(self.input_drop(self.genes(x)))
        return self.mean(h), self.logvar(h).clamp(-15.0, 15.0)

    def _one_hot(self, batch: torch.Tensor | None, n: int) -> torch.Tensor | None:
        if self.n_batch == 0:
            return None
        if batch is None:
            msg = f"this VAE's decoder is conditioned on {self.n_batch} batches: pass batch="
            raise ValueError(msg)
        if batch.shape != (n,):
            msg = f"batch has shape {tuple(batch.shape)}; expected ({n},), one code per row."
            raise ValueError(msg)
        return nn.functional.one_hot(batch.long(), self.n_batch).float()

    def decoded(self, x: torch.Tensor) -> torch.Tensor:
        """The columns of ``x`` (one per gene) that the decoder reconstructs.

        Parameters
        ----------
        x
            Cells x all ``n_inputs`` genes.

        Returns
        -------
        ``x`` itself where the decoder reconstructs every gene, else its read genes
        (:class:`~scautogenome.nn.InputGenes`).
        """
        return x if self.decode_all else self.genes(x)

    def widen(self, dec: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Decoder outputs with ``"recon"`` and ``"scale"`` as wide as all ``n_inputs`` genes:
        0 for a gene it leaves out (a count's share, or the 0-1 scaled value that every cell
        has of a gene constant on the training cells).

        Parameters
        ----------
        dec
            Decoder outputs (:meth:`decode`) over the genes it reconstructs.

        Returns
        -------
        A new dict (``dec`` itself where the decoder reconstructs every gene); other entries
        (``"zi_logits"``) as they were.
        """
        if self.decode_all:
            return dec
        out = dict(dec)
        for key in ("recon", "scale"):
            if key in dec:
                t = dec[key]
                full = t.new_zeros((t.shape[0], self.n_inputs))
                out[key] = full.index_copy_(1, self.genes.index, t)
        return out

    def decode(self, z: torch.Tensor, batch: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Decoder outputs of latent codes ``z`` (``batch``: their batch codes, needed when
        the decoder is conditioned on batches), for the genes it reconstructs
        (:meth:`decoded`; :meth:`widen` for all of them).

        Parameters
        ----------
        z
            Cells x ``n_latent`` latent codes.
        batch
            Integer batch code of every row (shape ``(cells,)``); ignored where the decoder
            is not conditioned on batches (``n_batch`` 0), else required.

        Returns
        -------
        ``{"recon": ...}`` (sigmoid output, 0-1 scale) for ``"mse"`` and ``"gaussian"``;
        ``{"scale": ...}`` (softmax gene frequencies) for ``"nb"``, with ``"zi_logits"``
        for ``"zinb"``.
        """
        h = self.decoder(z, self._one_hot(batch, z.shape[0]))
        if self.likelihood in SCALED_LIKELIHOODS:
            return {"recon": torch.sigmoid(self.out(h))}
        out = {"scale": torch.softmax(self.out(h), dim=-1)}
        if self.likelihood == "zinb":
            out["zi_logits"] = self.zi(h)
        return out

    def forward(
        self,
        x: torch.Tensor,
        *,
        sample: bool = True,
        generator: torch.Generator | None = None,
        eps: torch.Tensor | None = None,
        batch: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Encoder, a latent draw (``mu`` itself with ``sample=False``; the standard normal
        noise ``eps`` when given, else drawn with ``generator``) and decoder (``batch``: the
        rows' batch codes, for a decoder conditioned on batches).

        Parameters
        ----------
        x
            Cells x genes, the 0-1 scaled input (as for :meth:`encode`).
        sample
            Draw the latent code (True) or use its mean.
        generator
            Random generator of the draw where ``eps`` is not given (None: torch's global
            one).
        eps
            Standard normal noise of the draw (cells x ``n_latent``), instead of drawing it.
        batch
            Integer batch code of every row, for a decoder conditioned on batches
            (:meth:`decode`).

        Returns
        -------
        ``"mu"``, ``"logvar"``, ``"z"`` (the latent code decoded) and the outputs of
        :meth:`decode`.
        """
        mu, logvar = self.encode(x)
        if sample:
            if eps is None:
                eps = torch.randn(mu.shape, device=mu.device, dtype=mu.dtype, generator=generator)
            z = mu + eps.to(mu.dtype) * torch.exp(0.5 * logvar)
        else:
            z = mu
        return {"mu": mu, "logvar": logvar, "z": z, **self.decode(z, batch)}

    def distribution(self, dec: dict[str, torch.Tensor], library: torch.Tensor):
        """The count distribution of a decoder output at the given library sizes (n x 1), over
        the genes it reconstructs (:meth:`decoded`).

        Parameters
        ----------
        dec
            Decoder outputs (:meth:`decode`) of a count likelihood (``"nb"``, ``"zinb"``).
        library
            Every cell's library size (n x 1).

        Returns
        -------
        scvi-tools' ``NegativeBinomial`` or ``ZeroInflatedNegativeBinomial``.
        """
        distributions = scvi_module()
        mu = library * dec["scale"]
        theta = torch.exp(self.log_theta)
        if self.likelihood == "zinb":
            zinb = distributions.ZeroInflatedNegativeBinomial
            return zinb(mu=mu, theta=theta, zi_logits=dec["zi_logits"])
        return distributions.NegativeBinomial(mu=mu, theta=theta)

    def loss(
        self, out: dict[str, torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-cell reconstruction loss (negative log-likelihood or summed squared error) and
        KL divergence to the standard normal prior.

        ``target`` (every gene) is the 0-1 scaled input for ``"mse"`` and ``"gaussian"`` and
        the raw counts otherwise; the loss is that of the genes the decoder reconstructs
        (:meth:`decoded`), a count's library size the cell's total.

        Parameters
        ----------
        out
            The outputs of :meth:`forward`.
        target
            Cells x all ``n_inputs`` genes: the 0-1 scaled input or the raw counts.

        Returns
        -------
        ``(recon, kl)``: one value per cell each.
        """
        mu, logvar = out["mu"], out["logvar"]
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)
        genes = self.decoded(target)
        if self.likelihood == "mse":
            recon = (out["recon"] - genes).pow(2).sum(dim=1)
        elif self.likelihood == "gaussian":
            sq = (out["recon"] - genes).pow(2)
            var = sq.detach().mean().clamp(min=MIN_GAUSSIAN_VAR)
            recon = 0.5 * (sq / var + torch.log(var) + math.log(2 * math.pi)).sum(dim=1)
        else:
            mean = target.sum(dim=1, keepdim=True) * out["scale"]
            theta = torch.exp(self.log_theta)
            if self.likelihood == "nb":
                log_p = nb_log_prob(genes, mean, theta)
            else:
                log_p = zinb_log_prob(genes, mean, theta, out["zi_logits"])
            recon = -log_p.sum(dim=1)
        return recon, kl

    def mean_reconstruction(
        self, out: dict[str, torch.Tensor], library: torch.Tensor | None
    ) -> torch.Tensor:
        """Expected reconstruction: 0-1 scaled values (``"mse"``, ``"gaussian"``) or the
        negative binomial's mean at the cell's library size, for ``"zinb"`` too: denoised,
        without the zero-inflation's dropouts, as scVI's
        ``get_normalized_expression(library_size="latent")`` with observed library sizes (each
        row adds up to its library size; scVI's default ``library_size=1`` divides each row by
        it).

        Parameters
        ----------
        out
            Decoder outputs (:meth:`decode`; :meth:`widen` for all genes).
        library
            Every cell's library size (n x 1) for a count likelihood; not read for
            ``"mse"`` and ``"gaussian"`` (None there).

        Returns
        -------
        Cells x genes (those of ``out``).
        """
        if self.likelihood in SCALED_LIKELIHOODS:
            return out["recon"]
        return library * out["scale"]


def build_vae(arch: dict, *, reads=None, decode_all: bool = False) -> VAEModule:
    """Build the VAE an architecture dict describes.

    ``arch`` has ``kind`` (``"resvae"`` or ``"vae"``), ``n_inputs``, ``n_latent``, ``widths``
    and optionally ``input_keep``, ``dropout``, ``act``, ``likelihood``, ``n_batch``; it is
    checked first
    (:func:`~scautogenome.nn.check_architecture`: unknown or missing keys, values of the wrong
    type or range are an error). ``reads``: the positions of the genes the encoder reads and
    the decoder reconstructs (None: all); ``decode_all``: the decoder reconstructs all genes
    (:class:`VAEModule`).

    Parameters
    ----------
    arch
        The architecture dict.
    reads
        Positions of the genes the encoder reads and the decoder reconstructs (None: all).
    decode_all
        Whether the decoder reconstructs all ``n_inputs`` genes whatever ``reads`` is.

    Returns
    -------
    The untrained :class:`VAEModule`.
    """
    from ._arch import check_architecture

    check_architecture(arch, kinds=VAE_KINDS)
    kind = arch["kind"]
    return VAEModule(
        int(arch["n_inputs"]),
        n_latent=int(arch["n_latent"]),
        widths=[int(w) for w in arch["widths"]],
        skip=kind == "resvae",
        input_keep=float(arch.get("input_keep", 1.0)),
        dropout=float(arch.get("dropout", 0.0)),
        act=str(arch.get("act", "relu")),
        likelihood=str(arch.get("likelihood", "mse")),
        n_batch=int(arch.get("n_batch", 0)),
        reads=reads,
        decode_all=decode_all,
    )
