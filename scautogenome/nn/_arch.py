"""Validation of architecture dicts, before a network is built from one (or drawn).

Each family's dict is described in the module that builds it: :mod:`._networks` (``mlp``,
``resnet``, ``densenet``), :mod:`._enas` (``rrfcn``) and :mod:`._vae` (``resvae``, ``vae``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ._units import ACTIVATIONS

STAGES = ("build", "fit", "draw")

# an example of each family's dict, for the message of a missing key
_EXAMPLES = {
    "mlp": "{'kind': 'mlp', 'units': [256, 128]}",
    "resnet": "{'kind': 'resnet', 'units': 256, 'n_blocks': 2}",
    "densenet": "{'kind': 'densenet', 'blocks': [3, 3], 'growth_rate': 32}",
    "rrfcn": "{'kind': 'rrfcn', 'widths': [256, 128, 64], 'skips': [[], [], [0]]}",
    "resvae": "{'kind': 'resvae', 'n_latent': 10, 'widths': [256, 128, 64]}",
    "vae": "{'kind': 'vae', 'n_latent': 10, 'widths': [256, 128, 64]}",
}
# the keys of each family that its network cannot do without (others have defaults)
_REQUIRED = {
    "mlp": ("units",),
    "resnet": ("units", "n_blocks"),
    "densenet": ("blocks", "growth_rate"),
    "rrfcn": ("widths", "skips"),
    "resvae": ("n_latent", "widths"),
    "vae": ("n_latent", "widths"),
}
# what a user may give a ResVAE instead of ``widths`` (see ResVAE's architecture)
_VAE_SHORTHAND = ("n_layers", "first_width", "decay")


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_)
    )


def _is_list(v) -> bool:
    return isinstance(v, (list, tuple)) or (isinstance(v, np.ndarray) and v.ndim == 1)


def _positive_int(v) -> bool:
    return _is_int(v) and v >= 1


def _widths(v) -> bool:
    return _is_list(v) and len(v) > 0 and all(_positive_int(w) for w in v)


# key -> (test of its value, what the value must be)
_RULES = {
    "n_inputs": (_positive_int, "a positive integer"),
    "n_outputs": (_positive_int, "a positive integer"),
    "input_keep": (lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
    "dropout": (lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "units": (_positive_int, "a positive integer"),  # resnet's; mlp's is a list (below)
    "n_blocks": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
    "blocks": (_widths, "a non-empty list of positive integers (units per dense block)"),
    "growth_rate": (_positive_int, "a positive integer"),
    "compression": (lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
    "widths": (_widths, "a non-empty list of positive integers"),
    "n_latent": (_positive_int, "a positive integer"),
    "n_batch": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
    "n_layers": (_positive_int, "a positive integer"),
    "first_width": (_positive_int, "a positive integer"),
    "decay": (lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
}
# an MLP of no FC unit is a linear model (built and saved by earlier versions too); drawn, it
# has nothing to show
_MLP_UNITS = (
    lambda v: _is_list(v) and all(_positive_int(w) for w in v),
    "a list of positive integers (one width per FC unit; [] a linear model)",
)


def _fail(key: str, value, what: str) -> None:
    msg = f"architecture {key}={value!r} must be {what}."
    raise ValueError(msg)


def architecture_kinds() -> tuple[str, ...]:
    """Every kind an architecture dict may have: the classifier families of
    :func:`~scautogenome.nn.build_network` (those registered too) and the VAEs."""
    from ._vae import VAE_KINDS

    return (*network_kinds(), *VAE_KINDS)


def network_kinds() -> tuple[str, ...]:
    """The classifier (and regressor) families :func:`~scautogenome.nn.build_network` builds,
    those registered with :func:`~scautogenome.nn.register_network` included."""
    from ._networks import _KINDS

    return tuple(sorted(_KINDS))


def check_architecture(arch, *, kinds: Iterable[str] | None = None, stage: str = "build") -> None:
    """Raise a clear error unless ``arch`` is a valid architecture dict.

    Checks the kind (one of ``kinds``; default :func:`architecture_kinds`), unknown keys,
    the keys the kind needs, and every value's type and range: positive integer sizes,
    non-empty lists of positive widths, ``input_keep`` in (0, 1], ``dropout`` in [0, 1),
    ``act`` among :data:`~scautogenome.nn.ACTIVATIONS`, an RRFCN's skips within its layers
    (:func:`~scautogenome.nn.check_dag`) and a VAE's likelihood.

    ``stage``: ``"build"`` (what the network is built from: ``n_inputs``, and a classifier's
    ``n_outputs``, are needed), ``"draw"`` (as :func:`~scautogenome.pl.architecture` reads it:
    the sizes may be absent) or ``"fit"`` (as a user gives it to a model's ``fit``, which fills
    the sizes in: a VAE's ``n_latent`` may be absent and its ``widths`` given as
    ``n_layers``/``first_width``/``decay``, its likelihood may be ``"auto"``).

    Parameters
    ----------
    arch
        The architecture dict (anything else is a TypeError; a bad key or value a
        ValueError).
    kinds
        The kinds accepted (None: every kind, :func:`architecture_kinds`).
    stage
        ``"build"``, ``"draw"`` or ``"fit"`` (above).
    """
    from ._enas import check_dag
    from ._networks import _COMMON, _KINDS, _SPECIFIC
    from ._vae import _ARCH_KEYS, LIKELIHOODS, VAE_KINDS

    if stage not in STAGES:
        msg = f"stage={stage!r} must be one of {STAGES}."
        raise ValueError(msg)
    kinds = list(architecture_kinds() if kinds is None else kinds)
    if not isinstance(arch, dict):
        msg = (
            f"architecture must be a dict such as {_EXAMPLES['mlp']}, got "
            f"{type(arch).__name__} {arch!r}."
        )
        raise TypeError(msg)
    kind = arch.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
        msg = f"architecture kind={kind!r} must be one of {kinds}."
        raise ValueError(msg)
    vae = kind in VAE_KINDS
    if vae:
        allowed = set(_ARCH_KEYS) | (set(_VAE_SHORTHAND) if stage == "fit" else set())
    elif kind in _KINDS:
        allowed = {"kind", "n_inputs", "n_outputs", *_COMMON, *_SPECIFIC[kind]}
    else:  # a kind this function does not know: its keys only
        allowed = set(arch)
    unknown = set(arch) - allowed
    if unknown:
        msg = (
            f"Unknown key(s) {sorted(unknown)} for a {kind} architecture; allowed: "
            f"{sorted(allowed)}."
        )
        raise ValueError(msg)

    required = list(_REQUIRED.get(kind, ()))
    if stage == "build":
        required += ["n_inputs"] if vae else ["n_inputs", "n_outputs"]
    if vae and stage == "fit":
        required.remove("n_latent")  # 10 by default
        both = [k for k in _VAE_SHORTHAND if k in arch]
        if "widths" in arch and both:
            msg = (
                f"An architecture of kind={kind!r} takes 'widths' or 'n_layers', 'first_width', "
                f"'decay', not both (got 'widths' and {both})."
            )
            raise ValueError(msg)
        if "widths" not in arch:
            required.remove("widths")
            partial = [k for k in _VAE_SHORTHAND if k not in arch]
            if partial:
                msg = (
                    f"An architecture of kind={kind!r} needs 'widths' or all of 'n_layers', "
                    f"'first_width', 'decay' (missing: {partial}); e.g. {_EXAMPLES[kind]}."
                )
                raise ValueError(msg)
    missing = [k for k in required if k not in arch]
    if missing:
        example = f"; e.g. {_EXAMPLES[kind]}" if kind in _EXAMPLES else ""
        msg = f"An architecture of kind={kind!r} needs {missing}{example}."
        raise ValueError(msg)

    for key, value in arch.items():
        if key == "kind":
            continue
        if key == "act":
            if not isinstance(value, str) or value not in ACTIVATIONS:
                _fail(key, value, f"one of {sorted(ACTIVATIONS)}")
        elif key == "likelihood" and vae:
            choices = ("auto", *LIKELIHOODS) if stage == "fit" else LIKELIHOODS
            if not isinstance(value, str) or value not in choices:
                _fail(key, value, f"one of {list(choices)}")
        elif key == "units" and kind == "mlp":
            if not _MLP_UNITS[0](value):
                _fail(key, value, _MLP_UNITS[1])
            if stage == "draw" and len(value) == 0:
                _fail(key, value, "a non-empty list to draw (an MLP without FC units is linear)")
        elif key == "skips":
            if not (_is_list(value) and all(_is_list(s) and all(map(_is_int, s)) for s in value)):
                _fail(key, value, "a list of lists of layer indices, one list per layer")
        elif key in _RULES and (kind in _REQUIRED or key in ("n_inputs", "n_outputs")):
            test, what = _RULES[key]
            if not test(value):
                _fail(key, value, what)
    if kind == "rrfcn":
        check_dag(arch["widths"], arch["skips"])
