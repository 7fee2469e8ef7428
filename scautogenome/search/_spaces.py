"""Search-space distributions as small JSON objects, and sampling them through Optuna.

A space entry is one of

* ``{"type": "categorical", "choices": [...]}``
* ``{"type": "float", "low": a, "high": b, "log": false}``
* ``{"type": "int", "low": a, "high": b, "step": 1, "log": false}``
* a bare list -- shorthand for a categorical over its items
* a scalar (number, string, bool) -- a fixed value, not searched
"""

from __future__ import annotations

import math
from typing import Any

_DIST_KEYS = {
    "categorical": {"type", "choices"},
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
}


# distances this close are a tie (float rounding of decimal values: 1.05 on a grid of 0.1)
_TIE = 1e-9


def check_distribution(spec: Any, where: str) -> None:
    """Raise ValueError naming ``where`` when ``spec`` is not a valid space entry.

    Parameters
    ----------
    spec
        The space entry (module docstring): a distribution dict, a list of choices or a
        fixed value. Every range is checked as Optuna would check it when it first samples
        it; a fixed value or a choice must not be NaN or infinite.
    where
        Where the entry is (such as ``"config['space']['mlp']['units']"``), the start of
        the message.
    """
    values = spec if isinstance(spec, list) else [spec]
    if isinstance(spec, dict) and spec.get("type") == "categorical":
        values = spec["choices"] if isinstance(spec.get("choices"), list) else []
    for value in values:  # a fixed value or a choice: no trial can use NaN or infinity
        if isinstance(value, float) and not math.isfinite(value):
            msg = f"{where}: {value} is not a finite number (in {spec!r})."
            raise ValueError(msg)
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
    if not isinstance(kind, str) or kind not in _DIST_KEYS:
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
    # every check Optuna would make when it first samples the entry, made here, before any
    # trial runs (a range it cannot sample would otherwise end the search mid-way)
    numbers = [k for k in ("low", "high", "step") if k in spec or k != "step"]
    for k in numbers:
        value = spec.get(k)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            msg = f"{where}: {kind} distribution needs a numeric {k!r}, got {value!r}."
            raise ValueError(msg)
        if not math.isfinite(value):
            msg = f"{where}: {k}={value} must be a finite number."
            raise ValueError(msg)
        if kind == "int" and not float(value).is_integer():
            msg = f"{where}: an int distribution needs a whole {k!r}, got {value!r}."
            raise ValueError(msg)
    if spec["low"] > spec["high"]:
        msg = f"{where}: low={spec['low']} is greater than high={spec['high']}."
        raise ValueError(msg)
    if spec.get("log") and spec["low"] <= 0:
        msg = f"{where}: a log-scaled distribution needs low > 0, got low={spec['low']}."
        raise ValueError(msg)
    if "step" in spec:
        if spec["step"] <= 0:
            msg = f"{where}: step={spec['step']} must be positive."
            raise ValueError(msg)
        if spec.get("log") and (kind == "float" or spec["step"] != 1):
            msg = (
                f"{where}: a log-scaled {kind} distribution takes no step"
                f"{' other than 1' if kind == 'int' else ''} (Optuna samples it on the log scale)."
            )
            raise ValueError(msg)


def suggest(trial, name: str, spec: Any) -> Any:
    """Draw ``name`` from ``spec`` with an Optuna trial (fixed values are returned as they are).

    Parameters
    ----------
    trial
        An Optuna trial (``optuna.Trial``, or an ``optuna.trial.FixedTrial``).
    name
        The parameter's name in the trial.
    spec
        A space entry (checked before: :func:`check_distribution`).

    Returns
    -------
    The value drawn (an int range's as an int), or the fixed value.
    """
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
    """The candidate values of a categorical entry (a fixed value is a one-item list).

    Parameters
    ----------
    spec
        A space entry; a range (``"float"``/``"int"``) has no list of values and is
        returned as the one item of the list.

    Returns
    -------
    The choices (the entry's own list, not a copy).
    """
    if isinstance(spec, list):
        return spec
    if isinstance(spec, dict) and spec.get("type") == "categorical":
        return spec["choices"]
    return [spec]


def _grid_top(spec: dict) -> float:
    """The largest value a range can draw: ``high``, or the last step at or below it."""
    low, high, step = spec["low"], spec["high"], spec.get("step")
    if not step:
        return high
    return low + math.floor((high - low) / step + 1e-9) * step


def fits(value: Any, spec: Any) -> bool:
    """Whether ``value`` lies in the distribution ``spec`` (a range, on its step grid where it
    has one; a choice list; a fixed value)."""
    if isinstance(spec, dict) and spec.get("type") in ("float", "int"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if spec["type"] == "int" and value != round(value):
            return False
        low, step = spec["low"], spec.get("step")
        if not low <= value <= _grid_top(spec) + 1e-12:
            return False
        return not step or abs((value - low) / step - round((value - low) / step)) < 1e-9
    return value in choices_of(spec)


def drawn_as(value: Any, spec: Any) -> Any:
    """``value`` (one that :func:`fits` ``spec``) as the space draws it: the choice it equals
    (``1.0`` of ``[1, 2]`` is ``1``), an integer of an int range, else itself."""
    if isinstance(spec, dict) and spec.get("type") in ("float", "int"):
        return round(value) if spec["type"] == "int" else value
    for choice in choices_of(spec):
        if choice == value and not isinstance(choice, bool):
            return choice
    return value


def nearest(value: Any, spec: Any) -> Any:
    """The value of ``spec`` nearest ``value``: ``value`` itself where it :func:`fits`; a range
    clips it to the range and snaps it to the range's step; a choice list of numbers takes the
    nearest choice (the smaller of two equally near); otherwise the first choice, or the fixed
    value."""
    if fits(value, spec):
        return value
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(spec, dict) and spec.get("type") in ("float", "int"):
        low, top, step = spec["low"], _grid_top(spec), spec.get("step")
        out = min(max(value, low), top) if numeric else low
        if step:
            out = low + math.ceil((out - low) / step - 0.5 - _TIE) * step  # a tie: the lower step
        elif spec["type"] == "int":  # integers within [low, high], as Optuna's int() bounds
            # a tie: the lower integer, as with a step
            out = min(max(math.ceil(out - 0.5 - _TIE), math.ceil(low)), math.floor(spec["high"]))
        return round(out) if spec["type"] == "int" else float(out)
    choices = choices_of(spec)
    nums = [c for c in choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
    if numeric and nums:  # a tie: the smaller choice
        best = min(abs(c - value) for c in nums)
        return min(c for c in nums if abs(c - value) <= best + _TIE)
    return choices[0]
