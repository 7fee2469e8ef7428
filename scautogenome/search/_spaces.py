"""Search-space distributions as small JSON objects, and sampling them through Optuna.

A space entry is one of

* ``{"type": "categorical", "choices": [...]}``
* ``{"type": "float", "low": a, "high": b, "log": false}``
* ``{"type": "int", "low": a, "high": b, "step": 1, "log": false}``
* a bare list -- shorthand for a categorical over its items
* a scalar (number, string, bool) -- a fixed value, not searched
"""

from __future__ import annotations

from typing import Any

_DIST_KEYS = {
    "categorical": {"type", "choices"},
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
}


def check_distribution(spec: Any, where: str) -> None:
    """Raise ValueError naming ``where`` when ``spec`` is not a valid space entry."""
    if isinstance(spec, (bool, int, float, str)):
        return
    if isinstance(spec, list):
        if not spec:
            msg = f"{where}: an empty list of choices."
            raise ValueError(msg)
        return
    if not isinstance(spec, dict):
        msg = f"{where}: expected a list of choices, a fixed value or a distribution dict, got {spec!r}."
        raise ValueError(msg)
    kind = spec.get("type")
    if kind not in _DIST_KEYS:
        msg = f"{where}: distribution type={kind!r} must be one of {sorted(_DIST_KEYS)}."
        raise ValueError(msg)
    unknown = set(spec) - _DIST_KEYS[kind]
    if unknown:
        msg = f"{where}: unknown key(s) {sorted(unknown)} for a {kind} distribution."
        raise ValueError(msg)
    if kind == "categorical":
        if not isinstance(spec.get("choices"), list) or not spec["choices"]:
            msg = f"{where}: a categorical distribution needs a non-empty 'choices' list."
            raise ValueError(msg)
        return
    for k in ("low", "high"):
        if not isinstance(spec.get(k), (int, float)) or isinstance(spec.get(k), bool):
            msg = f"{where}: {kind} distribution needs a numeric {k!r}, got {spec.get(k)!r}."
            raise ValueError(msg)
    if spec["low"] > spec["high"]:
        msg = f"{where}: low={spec['low']} is greater than high={spec['high']}."
        raise ValueError(msg)
    if spec.get("log") and spec["low"] <= 0:
        msg = f"{where}: a log-scaled distribution needs low > 0, got low={spec['low']}."
        raise ValueError(msg)


def suggest(trial, name: str, spec: Any) -> Any:
    """Draw ``name`` from ``spec`` with an Optuna trial (fixed values are returned as they are)."""
    if isinstance(spec, list):
        return trial.suggest_categorical(name, spec)
    if not isinstance(spec, dict):
        return spec
    kind = spec["type"]
    if kind == "categorical":
        return trial.suggest_categorical(name, spec["choices"])
    if kind == "float":
        return trial.suggest_float(
            name, spec["low"], spec["high"], log=spec.get("log", False), step=spec.get("step")
        )
    return trial.suggest_int(
        name,
        int(spec["low"]),
        int(spec["high"]),
        step=int(spec.get("step", 1)),
        log=spec.get("log", False),
    )


def choices_of(spec: Any) -> list:
    """The candidate values of a categorical entry (a fixed value is a one-item list)."""
    if isinstance(spec, list):
        return spec
    if isinstance(spec, dict) and spec.get("type") == "categorical":
        return spec["choices"]
    return [spec]


def fits(value: Any, spec: Any) -> bool:
    """Whether ``value`` lies in the distribution ``spec`` (a range, a choice list or a fixed
    value)."""
    if isinstance(spec, dict) and spec.get("type") in ("float", "int"):
        return isinstance(value, (int, float)) and spec["low"] <= value <= spec["high"]
    return value in choices_of(spec)


def nearest(value: Any, spec: Any) -> Any:
    """The value of ``spec`` nearest ``value``: ``value`` itself where it :func:`fits`; a range
    clips it (and snaps it to the range's step); a choice list of numbers takes the nearest
    choice (the smaller of two equally near); otherwise the first choice, or the fixed value."""
    if fits(value, spec):
        return value
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(spec, dict) and spec.get("type") in ("float", "int"):
        low, high = spec["low"], spec["high"]
        out = min(max(value, low), high) if numeric else low
        step = spec.get("step")
        if step:
            out = min(low + round((out - low) / step) * step, high)
        return round(out) if spec["type"] == "int" else float(out)
    choices = choices_of(spec)
    nums = [c for c in choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
    if numeric and nums:
        return min(nums, key=lambda c: (abs(c - value), c))
    return choices[0]
