"""Property-based tests (hypothesis) of the configuration layer: ``sag.config.load`` (classify
and embed), its checks, and the search-space entries of ``search/_spaces.py``.

test_config.py pins one hand-picked config per rule; users hand configs as dicts, JSON files,
JSON text or the command line's ``--config`` (a JSON path), any part of any section. These
tests generate configs from the schema's own valid values (written out here, independently of
the package's rule tables, so that a rule changed there is caught) and check what the loader
promises for every one of them:

- a valid config (any subset of sections and keys, valid values, cross-rules kept) loads; the
  loaded config loads to itself, and so does its JSON (``to_json``, a file, ``--config``'s
  route through ``tools._utils.load_config``); the user's dict is left as it was and shares
  no list or dict with the loaded one; the CLI's budget options replace only their own key;
- a partial config is the defaults with its keys replaced, nothing else changed (but the
  documented derived values: the AUC loss's default metric ``roc_auc``, the squared error's
  ``r2``, and the space of one mode's families);
- one invalid change (wrong type, bool for a number, NaN, infinity, negative, out of range, a
  choice not listed, an unknown key or section, an empty choice list, ``low > high``, a log
  range from 0) is a ValueError naming the key, never accepted, never another exception;
- a space entry the checks accept is one Optuna samples: every drawn value ``fits`` it, the
  same seed draws the same values, and ``nearest`` returns a value that fits and is the
  nearest allowed one (the smaller of two equally near).

Five bugs found here were fixed; the plain parametrized tests below the properties pin them
with their shrunk inputs: a space entry's ``type`` of a list or dict (a TypeError, unhashable),
NaN or infinity among a categorical dict's choices and in the ``rrfcn`` section (accepted),
a non-str ``search.metric`` with the squared-error loss (another function's TypeError), and
an int range without a step that broke a tie upwards; ties within float rounding (1.05 on a
grid of 0.1) were found later and are broken downwards too. Each test was seen to fail on a
copy of the package with a plausible bug in the code it pins (a choice check dropped, a
section replaced instead of merged, ``nearest`` off by one step, ...).

Every test is derandomized and without deadline. Hypothesis also draws constants of the
modules imported so far, so the examples of a file run alone and of the whole suite differ: a
new failure after an unrelated change is a counterexample, not noise (the decimal ties were
found so, in a CI run).
"""

from __future__ import annotations

import copy
import json
import math
import re
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scautogenome as sag
from scautogenome.config import _embed
from scautogenome.search._spaces import check_distribution, fits, nearest, suggest
from scautogenome.tools._utils import load_config

PROPS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

INF = float("inf")
NAN = float("nan")

# -- the schema, written out: (kind, low, high, low closed, high closed); None = unbounded ----
_RANK = ("roc_auc", "average_precision")
_REGRESSION = ("r2", "pearson", "spearman")
_METRICS = ("macro_f1", "accuracy", "balanced_accuracy", "weighted_f1", *_RANK, *_REGRESSION)
_SPACE_RULES = {
    "lr": ("float", 0, None, False, True),
    "batch_size": ("int", 2, None, True, True),
    "momentum": ("float", 0, 1, True, False),
    "weight_decay": ("float", 0, None, True, True),
    "input_keep": ("float", 0, 1, False, True),
    "dropout": ("float", 0, 1, True, False),
    "n_layers": ("int", 1, 64, True, True),
    "units": ("int", 1, None, True, True),
    "n_blocks": ("int", 1, 64, True, True),
    "block_units": ("int", 1, 64, True, True),
    "growth_rate": ("int", 1, None, True, True),
    "compression": ("float", 0, 1, False, True),
    "first_width": ("int", 1, None, True, True),
    "decay": ("float", 0, 1, False, True),
}
_SPACE_NAMES = {
    "act": ("relu", "elu", "gelu", "leaky_relu"),
    "optimizer": ("adamw", "sgd"),
    "class_balance": ("none", "weights", "sampler"),
}
_RRFCN_RULES = {
    "n_layers": ("int", 1, 64, True, True),
    "first_width": ("int", 1, None, True, True),
    "epochs": ("int", 1, None, True, True),
    "search_share": ("float", 0, 1, False, True),
    "child_lr": ("float", 0, None, False, True),
    "child_batch_size": ("int", 2, None, True, True),
    "weight_decay": ("float", 0, None, True, True),
    "input_keep": ("float", 0, 1, False, True),
    "dropout": ("float", 0, 1, True, False),  # as the space's: 1 drops everything
    "controller_lr": ("float", 0, None, False, True),
    "controller_steps": ("int", 1, None, True, True),
    "controller_samples": ("int", 1, None, True, True),
    "lstm_size": ("int", 1, None, True, True),
    "tanh_constant": ("float", 0, None, True, True),
    "entropy_weight": ("float", 0, None, True, True),
    "skip_target": ("float", 0, 1, False, True),
    "skip_weight": ("float", 0, None, True, True),
    "baseline_decay": ("float", 0, 1, True, True),
    "n_candidates": ("int", 1, None, True, True),
    "top_k_candidates": ("int", 1, None, True, True),
    "auto_min_time_budget": ("float", 0, None, True, True),
    "auto_share": ("float", 0, 1, False, True),
}
_CLASSIFY_SPACE = {
    "common": (
        "lr",
        "batch_size",
        "optimizer",
        "momentum",
        "weight_decay",
        "class_balance",
        "input_keep",
        "dropout",
        "act",
    ),
    "mlp": ("n_layers", "units"),
    "resnet": ("n_blocks", "units"),
    "densenet": ("n_blocks", "block_units", "growth_rate", "compression"),
}
_EMBED_SPACE = (
    "n_layers",
    "input_keep",
    "first_width",
    "decay",
    "lr",
    "batch_size",
    "weight_decay",
    "dropout",
    "act",
)
_CLASSIFY_PARAMS = ("mode", "lr", "act", "mlp_n_layers", "mlp_units_0", "resnet_units")
_CLASSIFY_PARAMS += ("densenet_block_units_2", "rrfcn_width_1", "rrfcn_skip_3_1")


def _number(rule, *, as_float: bool = False):
    """A number inside ``rule``'s range (ints for an int rule unless ``as_float``)."""
    kind, low, high, closed_low, closed_high = rule
    if kind == "int" and not as_float:
        return st.integers(low, high if high is not None else low + 4096)
    top = high if high is not None else 1e4
    return st.floats(
        low, top, exclude_min=not closed_low, exclude_max=not closed_high or high is None
    ).filter(lambda v: v != 0 or closed_low)


ENTRY_FORMS = ["list", "categorical", "fixed", "range", "range-log", "range-step"]


@st.composite
def space_entry(draw, key: str, form: str | None = None):
    """A valid space entry of ``key``: a choice list, a categorical dict, a fixed value or (for
    a numeric key) an int or float range, with a step or a log scale where allowed; ``form``
    (as :data:`ENTRY_FORMS`) picks one, else it is drawn."""
    if key in _SPACE_NAMES:
        values = st.sampled_from(_SPACE_NAMES[key])
    else:
        values = _number(_SPACE_RULES[key])
    form = form or draw(st.sampled_from(ENTRY_FORMS))
    if form == "list" or (form.startswith("range") and key in _SPACE_NAMES):
        return draw(st.lists(values, min_size=1, max_size=4))
    if form == "categorical":
        return {"type": "categorical", "choices": draw(st.lists(values, min_size=1, max_size=4))}
    if form == "fixed":
        return draw(values)
    a, b = sorted(draw(st.lists(values, min_size=2, max_size=2)))
    spec = {"type": _SPACE_RULES[key][0], "low": a, "high": b}
    if form == "range-log" and a > 0:
        spec["log"] = True
    elif form == "range-step" and b > a:
        spec["step"] = draw(st.integers(1, 5)) if spec["type"] == "int" else (b - a) / 3
    return spec


def _keys_subset(draw, keys) -> list:
    return [k for k in keys if draw(st.booleans())]


@st.composite
def budget_section(draw):
    out = {}
    if draw(st.booleans()):
        out["n_trials"] = draw(st.none() | st.integers(0, 500))
    if draw(st.booleans()):
        seconds = st.floats(0.5, 1e5) | st.integers(1, 10**5) | st.just(INF)
        out["time_budget"] = draw(st.none() | seconds)
    if out.get("n_trials", 0) is None and out.get("time_budget", 0) in (None, INF):
        out["time_budget"] = 60.0  # neither set (infinity is no limit): a search that never ends
    return out


@st.composite
def classify_config(draw):
    """A valid classify config: any subset of the sections and of their keys."""
    cfg: dict = {}
    if draw(st.booleans()):
        cfg["mode"] = draw(st.sampled_from(sag.config.MODES))
    if draw(st.booleans()):
        cfg["budget"] = draw(budget_section())
    trainer = {}
    for key in _keys_subset(draw, ("max_epochs", "patience", "min_epochs", "loss")):
        low = 1 if key == "max_epochs" else 0
        loss = st.sampled_from(("cross_entropy", "auc", "mse"))
        trainer[key] = draw(loss if key == "loss" else st.integers(low, 300))
    search = {}
    for key in _keys_subset(draw, ("metric", "sampler", "pruner", "n_startup_trials")):
        search[key] = draw(
            {
                "metric": st.sampled_from(
                    {"auc": ("macro_f1", *_RANK), "mse": ("macro_f1", *_REGRESSION)}.get(
                        trainer.get("loss"), _METRICS
                    )
                ),
                "sampler": st.sampled_from(("tpe", "random")),
                "pruner": st.sampled_from(("median", "hyperband", "none")),
                "n_startup_trials": st.integers(0, 50),
            }[key]
        )
    if draw(st.booleans()):
        search["max_trial_fraction"] = draw(st.floats(0, 1, exclude_min=True) | st.just(1))
    if draw(st.booleans()):
        points = st.lists(
            st.dictionaries(st.sampled_from(_CLASSIFY_PARAMS), st.integers(1, 8), max_size=3),
            max_size=2,
        )
        search["initial_trials"] = draw(st.sampled_from(["default", "none"]) | points)
    for name, section in (("trainer", trainer), ("search", search)):
        if section or draw(st.booleans()):
            cfg[name] = section
    if draw(st.booleans()):
        space = {}
        for family, keys in _CLASSIFY_SPACE.items():
            if draw(st.booleans()):
                space[family] = {k: draw(space_entry(k)) for k in _keys_subset(draw, keys)}
        cfg["space"] = space
    if draw(st.booleans()):
        cfg["rrfcn"] = draw(rrfcn_section())
    return cfg


@st.composite
def rrfcn_section(draw):
    out = {}
    for key in _keys_subset(draw, _RRFCN_RULES):
        out[key] = draw(_number(_RRFCN_RULES[key]))
    if draw(st.booleans()):
        out["strategy"] = draw(st.sampled_from(("enas", "optuna")))
    if draw(st.booleans()):
        out["class_balance"] = draw(st.sampled_from(_SPACE_NAMES["class_balance"]))
    if draw(st.booleans()):
        out["widths"] = draw(st.lists(st.integers(1, 4096), min_size=1, max_size=5))
    # the cross-rules: top_k <= n_candidates (defaults 2 and 16); ENAS takes 2 layers or more
    n_cand = out.get("n_candidates", 16)
    if out.get("top_k_candidates", 2) > n_cand:
        out["top_k_candidates"] = n_cand
    if n_cand < 2 and "top_k_candidates" not in out:
        out["top_k_candidates"] = 1
    if out.get("strategy", "enas") == "enas" and out.get("n_layers", 6) < 2:
        out["n_layers"] = 2
    return out


@st.composite
def embed_config(draw):
    """A valid embed config: its mode (given or not) and any subset of its sections."""
    cfg: dict = {}
    if draw(st.booleans()):
        cfg["mode"] = draw(st.sampled_from(_embed.EMBED_MODES))
    if draw(st.booleans()):
        cfg["budget"] = draw(budget_section())
    if draw(st.booleans()):
        search = {}
        if draw(st.booleans()):
            search["sampler"] = draw(st.sampled_from(("tpe", "random")))
        if draw(st.booleans()):
            search["prune_warmup_epochs"] = draw(st.integers(0, 50))
        if draw(st.booleans()):
            points = st.lists(
                st.dictionaries(st.sampled_from(_EMBED_SPACE), st.integers(1, 8), max_size=3),
                max_size=2,
            )
            search["initial_trials"] = draw(points)
        cfg["search"] = search
    if draw(st.booleans()):
        trainer = {}
        if draw(st.booleans()):
            trainer["beta"] = draw(st.floats(0, 50) | st.integers(0, 10))
        if draw(st.booleans()):
            trainer["kl_warmup_epochs"] = draw(st.none() | st.integers(0, 200))
        if draw(st.booleans()):
            trainer["max_epochs"] = draw(st.integers(1, 300))
        cfg["trainer"] = trainer
    if draw(st.booleans()):
        cfg["space"] = {k: draw(space_entry(k)) for k in _keys_subset(draw, _EMBED_SPACE)}
    return cfg


def _expected(user: dict, family: str) -> dict:
    """The defaults with the user's keys replaced, and the documented derived values."""
    mode = user.get("mode", "auto" if family == "classify" else "resvae")
    out = sag.config.default(mode if family == "embed" else "auto")
    out["mode"] = mode
    for section, values in user.items():
        if section == "mode":
            continue
        if section == "space" and family == "classify":
            for fam, entries in values.items():
                out["space"][fam].update(copy.deepcopy(entries))
        else:
            out[section].update(copy.deepcopy(values))
    if family == "classify":
        loss, metric = out["trainer"]["loss"], out["search"]["metric"]
        if metric == "macro_f1" and loss in ("auc", "mse"):
            out["search"]["metric"] = "roc_auc" if loss == "auc" else "r2"
        if mode != "auto":
            out["space"] = {k: v for k, v in out["space"].items() if k in ("common", mode)}
    return out


def _clear(value) -> None:
    """Empty every list and dict inside ``value`` (deepest first)."""
    if isinstance(value, (dict, list)):
        for item in list(value.values() if isinstance(value, dict) else value):
            _clear(item)
        value.clear()


def _load(cfg: dict, family: str) -> dict:
    return sag.config.load(cfg) if family == "classify" else _embed.load(cfg)


CONFIGS = st.one_of(
    st.tuples(st.just("classify"), classify_config()),
    st.tuples(st.just("embed"), embed_config()),
)


# -- 1 and 2: valid configs load, to themselves, from JSON, as the defaults updated -----------
@PROPS
@given(CONFIGS)
def test_a_valid_config_loads_to_itself_and_from_its_json(tmp_path, case):
    """Any valid config loads; the loaded one loads to itself, from ``to_json``'s text, from a
    JSON file and by the command line's ``--config`` route; the user's dict is not changed."""
    family, user = case
    before = copy.deepcopy(user)
    cfg = _load(user, family)
    assert user == before
    assert _load(cfg, family) == cfg
    _clear(_load(user, family))  # a loaded config shares no list or dict with the user's
    assert user == before
    assert sag.config.load(sag.config.to_json(cfg)) == cfg  # embed's mode dispatches it
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(user))
    assert _load(path, family) == cfg
    if family == "classify":  # the CLI: load_config(_config.load, args.config, args.mode, ...)
        assert load_config(sag.config.load, path, None, {}) == cfg
    elif "mode" in user:
        assert sag.config.load(path) == cfg


@PROPS
@given(CONFIGS)
def test_a_partial_config_is_the_defaults_with_its_keys_replaced(case):
    """Keys left out keep their defaults (section by section, entry by entry of the space);
    keys given are taken as given; nothing else changes but the documented derived values."""
    family, user = case
    assert _load(user, family) == _expected(user, family)


@PROPS
@given(classify_config(), st.integers(0, 500), st.none() | st.floats(1, 1e4))
def test_budget_options_win_over_the_configs_and_keep_the_other(user, n_trials, seconds):
    """As the CLI's --n-trials/--time-budget: one given replaces the config's own, the other
    keeps the configured value."""
    from scautogenome.tools._utils import budget_overrides

    overrides = budget_overrides(n_trials, seconds)
    cfg = load_config(sag.config.load, user, None, overrides)
    assert cfg["budget"]["n_trials"] == n_trials
    own = {**sag.config.default()["budget"], **user.get("budget", {})}["time_budget"]
    assert cfg["budget"]["time_budget"] == (own if seconds is None else seconds)


# -- 3: one invalid change is a ValueError naming the key ---------------------------------------
def _bad_numbers(rule, section: str):
    """Values outside ``rule`` (type, range, NaN, infinity outside the budget)."""
    kind, low, high, closed_low, closed_high = rule
    bad = [True, "3", [1], {"a": 1}, NAN]
    if section != "budget":
        bad.append(INF)
    if kind == "int":
        bad += [2.5, float(low + 1)]
    bad.append(low - 1 if closed_low else low)
    if high is not None:
        bad.append(high + 1 if closed_high else high)
    return bad


_SCALAR_RULES = {  # (section, key) -> (rule, families)
    ("budget", "n_trials"): (("int", 0, None, True, True), "ce"),
    ("budget", "time_budget"): (("float", 0, None, False, True), "ce"),
    ("search", "n_startup_trials"): (("int", 0, None, True, True), "ce"),
    ("search", "prune_warmup_epochs"): (("int", 0, None, True, True), "ce"),
    ("search", "max_trial_fraction"): (("float", 0, 1, False, True), "ce"),
    ("trainer", "max_epochs"): (("int", 1, None, True, True), "ce"),
    ("trainer", "patience"): (("int", 0, None, True, True), "ce"),
    ("trainer", "min_epochs"): (("int", 0, None, True, True), "ce"),
    ("trainer", "beta"): (("float", 0, None, True, True), "e"),
    ("trainer", "kl_warmup_epochs"): (("int", 0, None, True, True), "e"),
}
_CHOICE_KEYS = {  # (section, key) -> families
    ("search", "metric"): "c",
    ("trainer", "loss"): "c",
    ("search", "sampler"): "ce",
    ("search", "pruner"): "ce",
    ("search", "initial_trials"): "ce",
    ("rrfcn", "strategy"): "c",
    ("rrfcn", "class_balance"): "c",
}


_NOT_CHOICES = ["", "Tpe", "auc2", "enas ", None, 1, ["tpe"]]
_BAD_ENTRIES = [[], {"type": "categorical", "choices": []}, None, True, NAN, INF, [1.0, NAN]]
_BAD_ENTRIES += [[INF], {"type": "float", "low": 0.5, "high": 0.25}, "not-a-name"]
_BAD_ENTRIES += [{"type": "int", "low": 3, "high": 2}, {"type": "normal"}]
_BAD_ENTRIES += [{"type": "float", "low": 0, "high": 0.5, "log": True}]
_BAD_ENTRIES += [{"type": "float", "low": 0.1, "high": 0.2, "lg": True}]


def _space_bads(key: str) -> list:
    """Entries of ``key`` the checks refuse: malformed ones, and values outside its rule."""
    bad = list(_BAD_ENTRIES)
    if key in _SPACE_RULES:
        rule = _SPACE_RULES[key]
        out = [b for b in _bad_numbers(rule, "space") if isinstance(b, (int, float))]
        bad += out + [[v] for v in out if not isinstance(v, bool)]
        bad += [{"type": "categorical", "choices": [v]} for v in out if v == v and v != INF]
        if rule[0] == "int":
            bad.append({"type": "float", "low": 2, "high": 8})
    return bad


def _targets() -> list:
    """``pytest.param(family, alternatives)`` per key (or rule): each alternative is one
    invalid change, ``([(path, value), ...], the key its error must name)``."""
    out = []

    def add(family, name, alternatives):
        out.append(pytest.param(family, alternatives, id=f"{family}-{name}"))

    for family in ("classify", "embed"):
        f = family[0]
        for (section, key), (rule, fams) in _SCALAR_RULES.items():
            if f in fams:
                bads = _bad_numbers(rule, section)
                add(family, key, [([((section, key), b)], key) for b in bads])
        for (section, key), fams in _CHOICE_KEYS.items():
            if f in fams:
                add(family, key, [([((section, key), b)], key) for b in _NOT_CHOICES])
        sections = ["budget", "search", "trainer", "space"] + (["rrfcn"] if f == "c" else [])
        inner = [("space", fam) for fam in _CLASSIFY_SPACE] if f == "c" else [("space",)]
        unknown = [(s,) for s in sections if s != "space"] + inner
        names = ["n_trial", "max_epoch", "Lr", "units_0"]
        add(family, "unknown-key", [([((*s, n), 1)], n) for s in unknown for n in names])
        alternatives = [([((s,), b)], s) for s in sections for b in (1, None, [1], "x")]
        add(family, "section", [*alternatives, ([(("bogus",), {})], "bogus")])
        if f == "c":
            for fam, keys in _CLASSIFY_SPACE.items():
                for key in keys:
                    path = ("space", fam, key)
                    add(family, f"{fam}.{key}", [([(path, b)], key) for b in _space_bads(key)])
        else:
            for key in _EMBED_SPACE:
                add(
                    family, f"space.{key}", [([(("space", key), b)], key) for b in _space_bads(key)]
                )
    for key, rule in _RRFCN_RULES.items():
        bads = _bad_numbers(rule, "rrfcn")
        add("classify", f"rrfcn.{key}", [([(("rrfcn", key), b)], key) for b in bads])
    add(
        "classify",
        "cross-rules",
        [
            ([(("budget", "n_trials"), None), (("budget", "time_budget"), None)], "budget"),
            ([(("trainer", "loss"), "auc"), (("search", "metric"), "accuracy")], "metric"),
            ([(("trainer", "loss"), "mse"), (("search", "metric"), "roc_auc")], "metric"),
            ([(("rrfcn", "strategy"), "enas"), (("rrfcn", "n_layers"), 1)], "n_layers"),
            ([(("rrfcn", "n_candidates"), 3), (("rrfcn", "top_k_candidates"), 4)], "top_k"),
            ([(("search", "initial_trials"), [{"lr": 0.1}, {"mlp_unit_0": 8}])], "mlp_unit_0"),
            ([(("search", "initial_trials"), [{"lr": 0.1}, 3])], "initial_trials"),
            ([(("budget", "time_budget"), 0)], "time_budget"),
        ],
    )
    add(
        "embed",
        "cross-rules",
        [
            ([(("budget", "n_trials"), None), (("budget", "time_budget"), None)], "budget"),
            ([(("search", "initial_trials"), [{"first_width": 64}, {"layers": 3}])], "layers"),
            ([(("mode",), "mlp")], "mode"),
            ([(("mode",), "pca")], "mode"),
        ],
    )
    return out


def _set(cfg: dict, changes: list) -> dict:
    out = copy.deepcopy(cfg)
    for path, value in changes:
        node = out
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = value
    return out


def _error(cfg: dict, family: str) -> Exception | None:
    """What loading ``cfg`` raises (None: it loads)."""
    try:
        _load(cfg, family)
    except Exception as e:  # any exception: the test judges it
        return e
    return None


@pytest.mark.parametrize(("family", "alternatives"), _targets())
@settings(PROPS, max_examples=3)
@given(data=st.data())
def test_one_invalid_change_is_a_value_error_naming_the_key(family, alternatives, data):
    """A valid config with one bad value of a key (every kind the checks refuse: a wrong type,
    a bool for a number, NaN, infinity, negative, out of range, a choice not listed, an empty
    choice list, low > high, a log range from 0, a broken rule between keys), or one unknown
    key or section, is refused with a ValueError that names that key: not accepted, no
    TypeError or KeyError from further in. Every change of the key on a few generated
    configs."""
    user = data.draw(classify_config() if family == "classify" else embed_config())
    for changes, key in alternatives:
        changed = _set(user, changes)
        error = _error(changed, family)
        assert isinstance(error, ValueError), (changed, error)
        assert re.search(rf"\[{re.escape(repr(key))}|\b{key}", str(error)), (changed, error)


# bugs found by the properties above (fixed), pinned with their shrunk inputs (plain
# parametrized tests: a failing hypothesis test would write a patch file into .hypothesis)
@pytest.mark.parametrize("kind", [[], ["float"], {}])
def test_a_space_entrys_type_of_any_json_value_is_a_value_error(kind):
    with pytest.raises(ValueError, match=r"\['lr'\]"):
        sag.config.load({"space": {"common": {"lr": {"type": kind, "low": 1, "high": 2}}}})


@pytest.mark.parametrize(
    ("family", "key", "bad"),
    [("classify", "lr", NAN), ("classify", "weight_decay", INF), ("embed", "dropout", NAN)],
)
def test_a_non_finite_choice_of_a_categorical_dict_is_refused(family, key, bad):
    entry = {"type": "categorical", "choices": [bad]}
    user = {"space": {"common": {key: entry}}} if family == "classify" else {"space": {key: entry}}
    with pytest.raises(ValueError, match=rf"\['{key}'\]"):
        _load(user, family)


@pytest.mark.parametrize("key", ["child_lr", "search_share", "dropout"])
def test_a_nan_rrfcn_setting_is_refused(key):
    with pytest.raises(ValueError, match=rf"\['{key}'\]"):
        sag.config.load(json.loads(f'{{"rrfcn": {{"{key}": NaN}}}}'))


@pytest.mark.parametrize("bad", [1, None])
def test_a_non_str_metric_with_the_mse_loss_is_a_value_error(bad):
    with pytest.raises(ValueError, match=r"\['search'\]\['metric'\]"):
        sag.config.load({"trainer": {"loss": "mse"}, "search": {"metric": bad}})


# -- 4: space entries: suggest draws what fits, nearest is the nearest that fits ---------------
FORMS = ["list", "categorical", "fixed", "int", "int-step", "int-log"]
FORMS += ["float", "float-step", "float-log"]


@st.composite
def range_or_choices(draw, form: str):
    """A space entry of ``form`` that check_distribution accepts: numeric choices (a list or a
    categorical dict), a fixed value, an int or float range, with a step or on a log scale."""
    num = st.integers(-50, 50) | st.floats(-50, 50).map(lambda v: round(v, 3))
    if form in ("list", "categorical"):
        choices = draw(st.lists(num, min_size=1, max_size=5))
        return choices if form == "list" else {"type": "categorical", "choices": choices}
    if form == "fixed":
        return draw(num)
    log = form.endswith("-log")
    if form.startswith("int"):
        low = draw(st.integers(1 if log else -30, 30))
        spec = {"type": "int", "low": low, "high": draw(st.integers(low, low + 60)), "log": log}
        if form == "int-step":
            spec["step"] = draw(st.integers(1, 7))
        return spec
    low = round(draw(st.floats(1e-4, 10) if log else st.floats(-10, 10)), 4)
    spec = {"type": "float", "low": low, "high": round(low + draw(st.floats(0, 20)), 4)}
    if log:
        spec["log"] = True
    if form == "float-step":
        spec["step"] = draw(st.sampled_from([0.1, 0.25, 0.5, 1, 2, 0.3]))
    return spec


def _allowed(spec) -> list | None:
    """Every value of a discrete entry (None for a continuous range)."""
    if isinstance(spec, dict) and spec["type"] in ("int", "float"):
        step = spec.get("step", 1 if spec["type"] == "int" else None)
        if step is None:
            return None
        n = math.floor((spec["high"] - spec["low"]) / step + 1e-9)
        return [spec["low"] + i * step for i in range(n + 1)]
    if isinstance(spec, dict):
        return spec["choices"]
    return spec if isinstance(spec, list) else [spec]


@pytest.mark.parametrize("form", FORMS)
@settings(PROPS, max_examples=25)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_suggest_draws_values_that_fit_the_entry_the_same_for_a_seed(form, data, seed):
    """An entry the checks accept is one Optuna samples (no error mid-search); every draw fits
    it, and the same seed draws the same values."""
    import optuna

    spec = data.draw(range_or_choices(form))
    check_distribution(spec, "entry")
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def draws(seed):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        out = []
        for _ in range(6):
            trial = study.ask()
            out.append(suggest(trial, "x", spec))
            study.tell(trial, 0.0)
        return out

    with warnings.catch_warnings():  # Optuna's "range not divisible by step": it trims high
        warnings.simplefilter("ignore", UserWarning)
        values, again = draws(seed), draws(seed)
    assert all(fits(v, spec) for v in values), (spec, values)
    assert values == again


@pytest.mark.parametrize("form", FORMS)
@settings(PROPS, max_examples=60)
@given(data=st.data(), value=st.none() | st.integers(-100, 100) | st.floats(-100, 100))
def test_nearest_is_the_nearest_value_that_fits(form, data, value):
    """``fits`` says whether the value is one the entry allows (on a range's step grid, an
    integer of an int range, a listed choice); ``nearest`` returns ``value`` where it fits,
    otherwise an allowed value than which none is nearer (a range clipped and snapped to its
    step; the smaller of a tie)."""
    spec = data.draw(range_or_choices(form))
    allowed = _allowed(spec)
    if value is None:  # halfway between two allowed values (or two bounds): a tie
        two = allowed or [spec["low"], spec["high"]]
        value = (data.draw(st.sampled_from(two)) + data.draw(st.sampled_from(two))) / 2

    def allows(x) -> bool:  # independent of fits (which allows 1e-12 above high: rounding)
        if allowed is None:
            return spec["low"] <= x <= spec["high"] + 1e-12
        if not isinstance(spec, dict) or spec["type"] == "categorical":
            return x in allowed
        if spec["type"] == "int" and x != round(x):
            return False
        on_grid = any(abs(x - a) <= 1e-9 for a in allowed)
        return on_grid and spec["low"] <= x <= allowed[-1] + 1e-12

    out = nearest(value, spec)
    assert fits(value, spec) == allows(value), (spec, value)
    assert allows(out), (spec, value, out)
    assert fits(out, spec), (spec, value, out)
    if allows(value):
        assert out == value
        return
    if allowed is None:  # a continuous range: the clipped value
        assert out == pytest.approx(min(max(value, spec["low"]), spec["high"]))
        return
    best = min(abs(a - value) for a in allowed)
    assert abs(out - value) <= best + 1e-9, (spec, value, out)
    ties = [a for a in allowed if abs(abs(a - value) - best) <= 1e-9]
    assert out == pytest.approx(min(ties)), (spec, value, out)


@pytest.mark.parametrize("value", [1.5, 3.5])
def test_nearest_breaks_a_tie_of_an_int_range_as_of_its_step_1_twin(value):
    spec = {"type": "int", "low": 0, "high": 5}
    assert nearest(value, spec) == nearest(value, {**spec, "step": 1}) == value - 0.5


def test_nearest_takes_the_lower_step_of_a_decimal_tie():
    """1.05 on the grid 1.0, 1.1, ... is a tie in decimals, not quite in binary floats, and so
    is 2.344 between the choices 1 and 3.688 (both found by the property above): the lower
    value, as for an exact tie."""
    assert nearest(1.05, {"type": "float", "low": 1.0, "high": 2.0, "step": 0.1}) == 1.0
    assert nearest((1 + 3.688) / 2, {"type": "categorical", "choices": [1, 3.688]}) == 1


@pytest.mark.parametrize("form", ENTRY_FORMS)
@settings(PROPS, max_examples=30)
@given(key=st.sampled_from(sorted(_SPACE_RULES) + sorted(_SPACE_NAMES)), data=st.data())
def test_every_generated_space_entry_is_accepted_and_sampled(form, key, data):
    """The space entries of the schema's valid values (as the config tests generate them) load
    and draw values that fit them (a generator that the loader refuses, or that never makes
    one form, would leave the tests above weaker than they read)."""
    import optuna

    spec = data.draw(space_entry(key, form))
    family = next((f for f, keys in _CLASSIFY_SPACE.items() if key in keys), None)
    if family is not None:
        assert sag.config.load({"space": {family: {key: spec}}})["space"][family][key] == spec
    if key in _EMBED_SPACE:
        assert _embed.load({"space": {key: spec}})["space"][key] == spec
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert fits(suggest(trial, key, spec), spec)


def test_the_generators_reach_every_key():
    """The schema written out here names every key of the defaults (a key added to the package
    is generated once it is added here)."""
    classify, embed = sag.config.default("auto"), sag.config.default("resvae")
    assert {k: tuple(v) for k, v in classify["space"].items()} == _CLASSIFY_SPACE
    assert set(classify["rrfcn"]) == {*_RRFCN_RULES, "strategy", "class_balance", "widths"}
    assert tuple(embed["space"]) == _EMBED_SPACE
    named = {k for (s, k) in (*_SCALAR_RULES, *_CHOICE_KEYS) if s != "rrfcn"}
    for cfg in (classify, embed):
        for section in ("budget", "search", "trainer"):
            assert set(cfg[section]) <= named
