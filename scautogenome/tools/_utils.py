"""Helpers shared by the tools: the torch-free ones of ``scautogenome._utils`` (re-exported so
``from ._utils import ...`` reads locally) and the steps ``classify`` and ``embed`` share."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .._utils import (
    call_params,
    check_creatable,
    check_int_at_least,
    check_key,
    check_number,
    check_path,
    h5ad_safe,
    is_embed_record,
    json_default,
    neighbors,
    recorded_path,
    resolve_basis,
    shown_values,
    tsne,
)
from ..config._config import read_user_config
from ..models._base import META, model_files

if TYPE_CHECKING:
    from collections.abc import Callable

    from anndata import AnnData

__all__ = [
    "Outputs",
    "budget_overrides",
    "budget_text",
    "call_params",
    "check_class_outputs",
    "check_key_added",
    "check_model_dir",
    "check_unrecorded_outputs",
    "check_uns_key",
    "classify_record",
    "describes",
    "drop_class_outputs",
    "explains_another_model",
    "explains_replaced_run",
    "final_model",
    "genes_named_by",
    "h5ad_safe",
    "is_classify_record",
    "is_embed_record",
    "is_encode_record",
    "is_explain_record",
    "is_predict_record",
    "is_scores_record",
    "load_config",
    "neighbors",
    "record_kind",
    "recorded_layer",
    "records_elsewhere",
    "replaces_scores",
    "resolve_basis",
    "save_model",
    "search_uns",
    "tsne",
]


def load_config(
    load: Callable[..., dict], config, mode: str | None, overrides: dict[str, dict]
) -> dict:
    """``load(config, mode=mode)`` with each section of ``overrides`` merged into the config's
    own before it is validated: explicit tool arguments win over the config, and the config is
    checked as it will be used (a ``trainer.loss`` of ``"auc"`` with ``metric="roc_auc"`` given
    as an argument)."""
    user = read_user_config(config)
    for section, values in overrides.items():
        own = user.get(section, {})
        if isinstance(own, dict):  # otherwise load() names the bad section
            user = {**user, section: {**own, **values}}
    return load(user, mode=mode)


def budget_text(budget: dict) -> str:
    """A search's ``budget`` section as the log says it: ``"3 trials"``, ``"600 s"``, or
    ``"3 trials or 600 s, whichever ends first"`` (``"no limit"`` for neither; 0 trials
    collect a stored study, whatever the seconds)."""
    n, seconds = budget.get("n_trials"), budget.get("time_budget")
    if n == 0:
        return "no new trial (the stored study's trials are collected)"
    trials = f"{n} trial{'' if n == 1 else 's'}" if n is not None else ""
    parts = [trials, f"{seconds:,.10g} s" if seconds else ""]
    parts = [p for p in parts if p]
    if len(parts) == 2:
        return f"{parts[0]} or {parts[1]}, whichever ends first"
    return parts[0] if parts else "no limit"


def budget_overrides(n_trials: int | None, time_budget: float | None) -> dict[str, dict]:
    """The ``budget`` section override for the budget arguments that were given: one given
    keeps the other's configured value."""
    # checked here, so that an error names the argument rather than the config's key
    budget: dict = {}
    if n_trials is not None:  # 0 collects a stored study (check_collect)
        budget["n_trials"] = check_int_at_least("n_trials", n_trials, 0)
    if time_budget is not None:
        budget["time_budget"] = check_number(
            "time_budget", time_budget, positive=True, what=" of seconds"
        )
    return {"budget": budget} if budget else {}


def check_key_added(key_added) -> None:
    """``key_added`` must be a non-empty string without ``/`` or a NUL character, and not
    ``.`` or ``..``: the keys it makes are h5ad group names, where ``/`` would nest groups
    (h5py warns, anndata refuses in newer versions), ``.`` names ``uns`` itself (the run's
    entries were written over the user's own there) and NUL cannot be stored."""
    msg = (
        f"key_added={key_added!r} must be a non-empty string without '/' (nor a NUL "
        "character, nor '.' or '..': h5ad group names)."
    )
    if not isinstance(key_added, str):
        raise TypeError(msg)
    if not key_added or "/" in key_added or "\0" in key_added or key_added in (".", ".."):
        raise ValueError(msg)


def check_model_dir(model_dir: str | Path | None) -> None:
    """Refuse, before the search, a ``model_dir`` that already holds a saved model or that
    cannot be created or written (a file in its path, no write permission)."""
    if model_dir is None:
        return
    check_path("model_dir", model_dir, "the folder to save the model in (or None)")
    path = Path(model_dir).expanduser()  # where the model is saved: "~" is the home folder
    held = model_files(path)
    if held:
        what = "a saved model" if META in held else f"{held[0]} (a file a save replaces)"
        msg = (
            f"model_dir={str(model_dir)!r} already holds {what}; choose another "
            "directory, or leave model_dir out and replace that model once the run is done: "
            f"model.save({str(model_dir)!r}, overwrite=True)."
        )
        raise FileExistsError(msg)
    check_creatable(path, f"model_dir={str(model_dir)!r}")


def check_model_type(model, kinds: tuple, names: str) -> None:
    """A TypeError unless ``model`` is one of the model classes ``kinds`` (``names`` says
    which, e.g. "Classifier or Regressor"); the path of a saved model is pointed to the
    ``load`` that reads it (the CLI's ``--model`` takes a folder, the tools an object)."""
    if isinstance(model, kinds):
        return
    msg = f"model must be a scautogenome {names}, got {type(model).__name__}."
    if isinstance(model, (str, os.PathLike)):
        other = " (or that of the class that saved it)" if len(kinds) > 1 else ""
        load = f"sag.models.{kinds[0].__name__}.load({str(model)!r})"
        msg += f" A saved model's folder is read by {load}{other}."
    raise TypeError(msg)


def describes(record, model, digest: str | None = None) -> bool:
    """Whether a classify ``uns`` record was written for ``model``: the digest of its weights
    (``model_digest``; ``digest`` when already computed), or for a record without one the same
    architecture and classes."""
    if not isinstance(record, dict):
        return False
    if "model_digest" in record:
        return str(record["model_digest"]) == (digest or model.weights_digest())
    if "architecture" not in record or "classes" not in record:
        return False
    try:
        arch = json.loads(str(record["architecture"]))
    except json.JSONDecodeError:
        return False
    # tuples -> lists and numpy numbers -> Python ones, as recorded
    theirs = json.loads(json.dumps(model.architecture_, default=json_default))
    return arch == theirs and list(map(str, record["classes"])) == list(map(str, model.classes_))


def is_classify_record(record) -> bool:
    """Whether ``record`` is what :func:`~scautogenome.tl.classify` writes into ``uns``."""
    return (
        isinstance(record, dict)
        and "architecture" in record
        and isinstance(record.get("params"), dict)
        and "labels_key" in record["params"]
    )


def is_explain_record(record) -> bool:
    """Whether ``record`` is what :func:`~scautogenome.tl.explain` writes into ``uns``."""
    return (
        isinstance(record, dict)
        and "top_genes" in record
        and "columns" in record
        and isinstance(record.get("params"), dict)
    )


def is_encode_record(record) -> bool:
    """Whether ``record`` is what :func:`~scautogenome.tl.encode` writes into ``uns`` on its
    own (an embed record that encode updated is an embed record)."""
    return isinstance(record, dict) and "encode_params" in record and not is_embed_record(record)


def is_predict_record(record) -> bool:
    """Whether ``record`` is what :func:`~scautogenome.tl.predict` writes into ``uns`` (on its
    own: a classify record that predict updated is a classify record)."""
    return isinstance(record, dict) and "predict_params" in record


def is_scores_record(record) -> bool:
    """Whether ``record`` is what :func:`~scautogenome.tl.embedding_scores` writes under a
    ``key_added`` that was absent: a dict holding only its ``scores``."""
    return (
        isinstance(record, dict)
        and set(record) == {"scores"}
        and isinstance(record["scores"], dict)
        and {"labels_key", "basis"} <= set(record["scores"])
    )


def record_kind(record) -> str:
    """What an ``uns`` entry is: ``"classify"``, ``"explain"``, ``"embed"``, ``"encode"`` or
    ``"predict"`` (the record that tool writes), ``"scores"`` (embedding_scores' alone),
    ``"other"`` (a dict no sag tool wrote) or ``"not a dict"``."""
    for kind, test in (
        ("classify", is_classify_record),
        ("explain", is_explain_record),
        ("embed", is_embed_record),
        ("encode", is_encode_record),
        ("predict", is_predict_record),
        ("scores", is_scores_record),
    ):
        if test(record):
            return kind
    return "other" if isinstance(record, dict) else "not a dict"


def records_elsewhere(adata: AnnData, key: str, kinds: tuple[str, ...], argument: str) -> str:
    """The end of an error about ``key``: the keys of ``adata.uns`` other than ``key`` that
    hold records of ``kinds`` (:func:`record_kind`; an explain record only with its ``varm``),
    and ``argument=`` to pass; empty when there are none."""
    found = []
    for k, record in adata.uns.items():
        kind = record_kind(record)
        if str(k) != key and kind in kinds and (kind != "explain" or k in adata.varm):
            found.append(str(k))
    if not found:
        return ""
    what = f"sag.tl.{' or '.join(kinds)}"
    if len(found) == 1:
        return f" uns[{found[0]!r}] holds a record of {what}: pass {argument}={found[0]!r}."
    return f" uns holds records of {what} under {found}: pass {argument}= one of them."


def check_uns_key(adata: AnnData, key_added: str, tool: str, replaces: tuple[str, ...]) -> None:
    """Refuse, before any work, a ``key_added`` whose ``uns`` entry ``tool`` would replace or
    update although it is not one of the records ``tool`` replaces (``replaces``): another
    tool's record (explain's SHAP ranking under classify's key, say), or something the user put
    there. Nothing the user had is lost; another ``key_added`` keeps both."""
    uns = getattr(adata, "uns", {})  # not an AnnData: the tool's own check names it
    if key_added not in uns:
        return
    kind = record_kind(uns[key_added])
    if kind in replaces:
        return
    if kind in ("classify", "explain", "embed", "encode", "predict"):
        what = f"the record of sag.tl.{kind}"
    elif kind == "scores":
        what = "the scores of sag.tl.embedding_scores"
    elif kind == "other" and "model_digest" in uns[key_added]:  # sag's records' own entry
        kept = ", ".join(repr(str(k)) for k in list(uns[key_added])[:6])
        what = (
            f"part of a sag record (only {kept}: what anndata.concat keeps of records that "
            "differ, say)"
        )
    elif kind == "other":
        what = "a dict that no sag tool wrote"
    else:
        what = f"a {type(uns[key_added]).__name__} that no sag tool wrote"
    msg = (
        f"adata.uns[{key_added!r}] holds {what}, which sag.tl.{tool}(key_added={key_added!r}) "
        "would replace. Pass another key_added= to keep both, or delete "
        f"adata.uns[{key_added!r}] first."
    )
    raise ValueError(msg)


def check_unrecorded_outputs(
    adata: AnnData,
    key_added: str,
    tool: str,
    outputs: tuple[tuple, ...],
    owners: tuple[str, str],
) -> None:
    """Refuse, before any work, outputs that ``tool`` writes or removes under ``key_added``
    (``outputs``: ``(where, name)`` pairs such as ``("obs", "sag_pred")``, ``where`` an
    attribute of ``adata``) when one of them exists and ``uns[key_added]`` holds no record of
    the ``owners`` (two :func:`record_kind` kinds, the tools that write them): then it is the
    user's (or another tool's), e.g. ``key_added="scVI"`` naming scVI's latent, and would be
    lost. A ``(where, name, wrote)`` triple is accounted for only by an owners' record for which
    ``wrote(record)`` is true (a confidence column by a record of predict's, a reconstruction
    layer by a record of a call with ``recon=True``). Another ``key_added`` keeps them."""
    uns = getattr(adata, "uns", {})  # not an AnnData: the tool's own check names it
    record = uns.get(key_added)
    kind = record_kind(record)
    owned = key_added in uns and kind in owners
    present = [out for out in outputs if out[1] in getattr(adata, out[0], {})]  # obs: columns
    if owned:
        unaccounted = [out for out in present if len(out) > 2 and not out[2](record)]
        if unaccounted:
            where, name = unaccounted[0][:2]
            msg = (
                f"adata.{where}[{name!r}] exists, but the record of sag.tl.{kind} in "
                f"adata.uns[{key_added!r}] says its call did not "
                f"write it (is it your own?); sag.tl.{tool}(key_added={key_added!r}) would "
                "replace or remove it. Pass another key_added= to keep it, or delete it first."
            )
            raise ValueError(msg)
        return
    theirs = [f"adata.{out[0]}[{out[1]!r}]" for out in present]
    if not theirs:
        return
    one = len(theirs) == 1
    listed = theirs[0] if one else f"{', '.join(theirs[:-1])} and {theirs[-1]}"
    msg = (
        f"{listed} exist{'s' if one else ''} without a record of sag.tl.{owners[0]} or "
        f"{owners[1]} in adata.uns[{key_added!r}] to say {'it is' if one else 'they are'} "
        f"sag's (your own, or sag's whose record was dropped, e.g. by anndata.concat); "
        f"sag.tl.{tool}(key_added={key_added!r}) would replace {'it' if one else 'them'}. Pass "
        f"another key_added= to keep {'it' if one else 'them'}, or delete "
        f"{'it' if one else 'them'} first."
    )
    raise ValueError(msg)


def wrote_recon(record) -> bool:
    """Whether the embed or encode ``record`` is of a call that wrote a reconstruction
    (``recon=True``), which accounts for ``layers['{key}_recon']``."""
    params = record.get("encode_params", record.get("params", {}))
    return isinstance(params, dict) and str(params.get("recon")) == "True"


def check_class_outputs(adata: AnnData, key_added: str, tool: str, *, split: bool) -> None:
    """:func:`check_unrecorded_outputs` of what :func:`~scautogenome.tl.classify` or
    :func:`~scautogenome.tl.predict` (``tool``) writes or removes under ``key_added``:
    ``obs['{key_added}_pred']``, ``obs['{key_added}_confidence']``,
    ``obsm['{key_added}_proba']`` and, with ``split`` (classify), ``obs['{key_added}_split']``;
    a record of either tool in ``uns[key_added]`` accounts for them."""
    from .. import _keys

    outputs = (
        ("obs", _keys.pred_key(key_added)),
        *((("obs", _keys.split_key(key_added)),) if split else ()),
        # a prediction (its predict_params, a classify record's too) wrote the confidence
        ("obs", _keys.confidence_key(key_added), is_predict_record),
        ("obsm", _keys.proba_key(key_added)),
    )
    check_unrecorded_outputs(adata, key_added, tool, outputs, owners=("classify", "predict"))


def explains_another_model(explanation, record) -> bool:
    """Whether the explain record ``explanation`` was made for another model than the classify
    ``record``: their weight digests differ or, for an explanation written before explain
    recorded the digest, their classes do."""
    if not (is_explain_record(explanation) and isinstance(record, dict)):
        return False
    if "model_digest" in explanation and "model_digest" in record:
        return str(explanation["model_digest"]) != str(record["model_digest"])
    if "classes" in explanation and "classes" in record:
        return list(map(str, explanation["classes"])) != list(map(str, record["classes"]))
    return False


def explains_replaced_run(explanation, key: str, record) -> bool:
    """Whether the explain record ``explanation``, made for the classify run under ``key``
    (its ``classify_key``; assumed when not recorded), explains another model than the
    classify ``record`` that ``key`` holds now: classify was run again after explain."""
    if not is_explain_record(explanation):
        return False
    made_for = str(explanation["params"].get("classify_key", key))
    return made_for == key and explains_another_model(explanation, record)


def unexplained_group(adata: AnnData, uns: dict, group: str) -> KeyError:
    """The error for a ``group`` that the explain record ``uns`` has no column of: a class the
    classify run it explains left out of training is named so; the explained classes are
    listed (the first 10 of many), and the overall column (the last), which a list of the
    first 10 of 11 columns or more left out, always: ``... (51 in all): the 50 classes and
    'overall' (the mean over the classes)`` (the total had counted the overall column, which
    was then named again after it as if it were not among them)."""
    from .. import _keys

    columns = [str(c) for c in uns["columns"]]
    if len(columns) > 10:  # the first 10 listed: the overall column is not among them
        shown = (
            f"{', '.join(map(repr, columns[:10]))}, ... ({len(columns):,} in all): the "
            f"{len(columns) - 1:,} classes and {columns[-1]!r} (the mean over the classes)"
        )
    else:
        shown = shown_values(columns)
    params = uns.get("params", {}) if isinstance(uns, dict) else {}
    run_key = str(params.get("classify_key", _keys.CLASSIFY_KEY))
    run = adata.uns.get(run_key)
    dropped = run.get("dropped_classes", []) if isinstance(run, dict) else []
    why = (
        f" it was left out of training (too few cells; uns[{run_key!r}]['dropped_classes']), "
        "so the model has no output for it;"
        if str(group) in {str(c) for c in dropped}
        else ""
    )
    return KeyError(f"group={group!r} is not one of the explained classes:{why} they are {shown}.")


def partial_explain_record(adata: AnnData, key: str) -> str:
    """What the readers and the report say of an ``uns[key]`` that is a dict but no whole
    :func:`~scautogenome.tl.explain` record (:func:`record_kind` ``"other"``): the entries
    that the explanations of several AnnData objects share, which
    ``anndata.concat(uns_merge="same")`` keeps (no top genes, no per-cell values)."""
    from .. import _keys

    kept = ", ".join(repr(str(k)) for k in list(adata.uns[key])[:6]) or "nothing"
    again = "" if key == _keys.SHAP_KEY else f", key_added={key!r}"
    return (
        f"adata.uns[{key!r}] is not a whole record of sag.tl.explain (it holds only {kept}: "
        "what anndata.concat(uns_merge='same') keeps of the explanations of AnnData objects "
        f"that differ, say); delete it (and adata.varm[{key!r}], where there) and run "
        f"sag.tl.explain(adata, model{again}) again."
    )


def explain_varm_problem(adata: AnnData, key: str) -> str | None:
    """What the readers and the report say of an ``adata.varm[key]`` whose columns are not
    the ones the explain record ``uns[key]`` names (one per class and the overall one): an
    array put there by the user, or the gene scores of another explanation; None where they
    match."""
    import numpy as np

    from .. import _keys

    record = adata.uns[key]
    if not is_explain_record(record):
        return None
    shape = np.shape(adata.varm[key])
    n = len(record["columns"])
    if shape[1:] == (n,):
        return None
    again = "" if key == _keys.SHAP_KEY else f", key_added={key!r}"
    return (
        f"adata.varm[{key!r}] has shape {shape}, but adata.uns[{key!r}] names {n} columns of "
        f"gene scores ({shown_values([str(c) for c in record['columns']], limit=5)}): not the "
        "scores of that explanation (replaced or edited since); delete both and run "
        f"sag.tl.explain(adata, model{again}) again."
    )


def explain_scores(adata: AnnData, key: str):
    """``adata.varm[key]``, the gene scores of the explanation in ``uns[key]`` (read by
    :func:`explain_record`), as floats for a reader: a ValueError
    (:func:`explain_varm_problem`) where its columns are not the ones the record names."""
    import numpy as np

    wrong = explain_varm_problem(adata, key)
    if wrong is not None:
        raise ValueError(wrong)
    return np.asarray(adata.varm[key], dtype=float)


def explain_record(adata: AnnData, key: str) -> dict:
    """The :func:`~scautogenome.tl.explain` record under ``key`` for a reader (a plot,
    :mod:`scautogenome.get`): a KeyError naming the call that makes it when ``uns`` or
    ``varm`` lacks it, a warning when the classify run it explains was replaced since
    (classify run again after explain), as the report leaves it out."""
    from .. import _keys
    from .._settings import logger
    from .._utils import missing_key

    if key in adata.varm and key not in adata.uns:  # an array of the user's own, or a split
        msg = (
            f"adata.varm[{key!r}] was not written by sag.tl.explain, or its record was "
            f"dropped (adata.uns has no {key!r} record of it; e.g. by anndata.concat, which "
            "keeps uns only with uns_merge=); run sag.tl.explain(adata, model, key_added=...) "
            "under another key, or pass key= the key_added you used."
        )
        raise KeyError(msg)
    if key in adata.uns and record_kind(adata.uns[key]) == "other":  # a part of one
        raise KeyError(partial_explain_record(adata, key))
    if key in adata.uns and key not in adata.varm and is_explain_record(adata.uns[key]):
        again = "" if key == _keys.SHAP_KEY else f", key_added={key!r}"
        msg = (
            f"adata.varm[{key!r}] is missing, though adata.uns[{key!r}] holds sag.tl.explain's "
            "record of it (anndata.concat, for one, drops varm unless its merge= keeps it); "
            f"run sag.tl.explain(adata, model{again}) again."
        )
        raise KeyError(msg)
    if key not in adata.uns or key not in adata.varm:
        raise missing_key("adata.uns / adata.varm", key, "sag.tl.explain(adata, model)")
    uns = adata.uns[key]
    params = uns.get("params", {}) if isinstance(uns, dict) else {}
    run = str(params.get("classify_key", _keys.CLASSIFY_KEY))
    if run in adata.uns and explains_replaced_run(uns, run, adata.uns[run]):
        logger.warning(
            "uns[%r] explains another model than the classify run in uns[%r] (classify was run "
            "again after explain); run sag.tl.explain again to use the current model's.",
            key,
            run,
        )
    return uns


def classify_record(
    adata: AnnData, model, key: str | None = None, digest: str | None = None
) -> tuple[str | None, dict]:
    """``(key, record)`` of the :func:`~scautogenome.tl.classify` run that trained ``model``
    (``digest``: its :meth:`weights_digest`, where already computed).

    With ``key``, that run's record (a KeyError when ``uns[key]`` is not a classify record; a
    warning when it describes another model). Without, the classify record whose architecture
    and classes are the model's, ``uns['sag']`` first; ``(None, {})`` when there is none (a
    model from :meth:`Classifier.fit`, or an AnnData classify never annotated)."""
    from .. import _keys
    from .._settings import logger

    if key is not None:  # named as explain's argument, classify_key
        check_key("classify_key", key, "the key_added of a sag.tl.classify run")
        record = adata.uns.get(key)
        if not is_classify_record(record):
            msg = (
                f"classify_key={key!r}: adata.uns[{key!r}] is not the record of a "
                "sag.tl.classify run (its key_added)."
            )
            raise KeyError(msg)
        if not describes(record, model, digest):
            logger.warning(
                "uns[%r] records another model than this one (its architecture or classes "
                "differ); its layer, labels and split are used as asked.",
                key,
            )
        return key, record
    keys = [_keys.CLASSIFY_KEY, *(k for k in adata.uns if k != _keys.CLASSIFY_KEY)]
    records = [(k, adata.uns.get(k)) for k in keys if is_classify_record(adata.uns.get(k))]
    if digest is None and any("model_digest" in r for _, r in records):
        digest = model.weights_digest()
    for k, record in records:
        if describes(record, model, digest):
            return k, record
    return None, {}


@contextmanager
def genes_named_by(adata: AnnData, gene_symbols: str | None):
    """While a model reads ``adata`` (its genes matched by name), its genes are named by the
    ``var`` column ``gene_symbols`` (symbols beside Ensembl ids, or ids beside symbols): a
    name repeated there is read as ``NAME-1``, ... as ``adata.var_names_make_unique()``
    names it, so that its first gene is matched; a gene without a name there (NaN) matches
    none; whole numbers of a numeric column (Entrez ids stored as floats beside a NaN) read
    as whole numbers (``7157``, not ``7157.0``). ``adata``'s own ``var_names`` are given
    back afterwards, whatever happened; nothing else changes. None: as they are. Checked
    (:func:`~scautogenome._utils.check_gene_symbols`) before any work."""
    if gene_symbols is None:
        yield
        return
    import numpy as np
    import pandas as pd
    from anndata.utils import make_index_unique

    from .._settings import logger

    column = adata.var[gene_symbols]
    missing = column.isna().to_numpy()
    values = column.to_numpy(dtype=object)
    names = np.array(
        [
            f"<no name in var[{gene_symbols!r}]: {i}>"  # matches no gene, is no repeat
            if gone
            else str(int(v))
            if isinstance(v, (float, np.floating)) and float(v).is_integer()
            else str(v)
            for i, (v, gone) in enumerate(zip(values, missing, strict=True))
        ],
        dtype=object,
    )
    named = pd.Index(names, dtype=object)
    unique = make_index_unique(named)
    repeated = named[(named != unique) & ~missing]
    if missing.any():
        logger.info(
            "%d gene(s) have no name in adata.var[%r] (NaN): they match none of the model's",
            int(missing.sum()),
            gene_symbols,
        )
    if len(repeated):
        logger.info(
            "adata.var[%r] repeats %d name(s) (e.g. %r); each is matched as its first gene, "
            "the others read as %r, ... (as adata.var_names_make_unique() names them)",
            gene_symbols,
            len(repeated),
            str(repeated[0]),
            f"{repeated[0]}-1",
        )
    own = adata.var_names
    adata.var_names = unique
    try:
        yield
    finally:
        try:
            adata.var_names = own
        except (TypeError, ValueError):
            # an index anndata's setter refuses (a name that is not a string, which pandas
            # takes on adata.var): put back as the setter would, without its checks
            adata.var.index = own
            for frame in adata.varm.values():
                if isinstance(frame, pd.DataFrame):
                    frame.index = own


def recorded_layer(adata: AnnData, record: dict, model=None) -> str | None:
    """The layer a tool reads of ``adata`` when given none, so that the layer recorded is the
    layer read: the one the classify (or embed) run of ``record`` trained on, when ``adata``
    still has it; else ``model``'s own (``layer_``) where ``adata`` has it; None (``adata.X``)
    otherwise (where ``adata`` lacks the model's layer, the model warns as it reads ``X``)."""
    from .._settings import logger

    params = record.get("params")
    layer = params.get("layer") if isinstance(params, dict) else None
    if isinstance(layer, str) and layer != "None" and layer in adata.layers:
        kind = "embed" if is_embed_record(record) else "classify"
        logger.info("reading layers[%r], the layer %s trained on", layer, kind)
        return layer
    if model is not None and getattr(model, "layer_", None) in adata.layers:
        return model._default_layer(adata, None)
    return None


def final_model(
    model_class, result, data, config: dict, device: str | None, *, obs_names, **extras
):
    """The ``model_class`` (Classifier, Regressor or ResVAE) of a search ``result`` trained on
    the prepared ``data`` (its genes and input transform) among the cells ``obs_names`` (the
    part of each in ``split_``); ``extras`` are the class's own parts. The model records
    torch's CPU thread count its weights were trained on: the search's record, or where there
    is none (an ENAS search; a best trial of another process kept without retraining, whose
    count is not known here) the count now, which the trainers set."""
    import torch

    n_threads = getattr(result, "n_threads", None)
    model = model_class._from_parts(
        architecture=result.architecture,
        state_dict=result.state_dict,
        var_names=data.var_names,
        transform=data.transform,
        train_params=result.train_params,
        history=result.history,
        config=config,
        device=device,
        layer=data.layer,
        n_threads=torch.get_num_threads() if n_threads is None else n_threads,
        **extras,
    )
    model._record_split(obs_names, data)
    return model


def search_uns(result, config_json: str, model, **best) -> dict:
    """The ``uns`` entries that describe a search ``result``: its trials, the best architecture
    and training parameters (JSON text), ``best`` (trial, mode and the keyword arguments), the
    config (``config_json``), the search time and the versions of the packages that trained
    its ``model`` (a seed trains another model under another torch), as its ``model.json``
    records them."""
    return {
        "trials": result.trials,
        "architecture": json.dumps(result.architecture, sort_keys=True),
        "train_params": json.dumps(result.train_params, sort_keys=True),
        "best": {"trial": result.best_trial, "mode": result.architecture["kind"], **best},
        "config": config_json,
        "search_seconds": result.seconds,
        "versions": dict(model.trained_with_),
    }


def save_model(model, model_dir, uns: dict) -> None:
    """Record in ``uns['params']`` torch's CPU thread count ``model`` was trained on
    (``n_threads``: a seed gives the same weights again at the same thread count and device
    only), save ``model`` into ``model_dir`` when given and record the directory in ``uns``.
    The tools call it before they write into the AnnData. A save that fails (a full disk, a
    folder another process filled during the search) logs an error naming ``model_dir`` and
    the run goes on without it, ``uns['model_dir']`` unset: the search's result, perhaps hours
    of it, is returned rather than lost with an exception (the save leaves no file behind, and
    ``model.save`` saves it again)."""
    if isinstance(uns.get("params"), dict) and getattr(model, "n_threads_", None) is not None:
        uns["params"]["n_threads"] = int(model.n_threads_)
    if model_dir is not None:
        try:
            model.save(model_dir)
        except OSError as e:
            from .._settings import logger

            logger.error(
                "model_dir=%r: the model could not be saved (%s); it is returned unsaved, and "
                "uns['model_dir'] not set: save it with model.save(%r) once that is fixed.",
                str(model_dir),
                e.strerror or e,
                str(model_dir),
            )
            return
        # absolute: a later session's working folder may hold another folder of that name
        uns["model_dir"] = recorded_path(os.path.abspath(os.path.expanduser(model_dir)))


def drop_class_outputs(out: Outputs, adata: AnnData, key_added: str, *, proba: bool) -> None:
    """Add to ``out`` the removal of the class outputs an earlier call under ``key_added``
    left and the new one does not write: ``obs['{key_added}_confidence']`` (predict's), and
    with ``proba`` also ``obsm['{key_added}_proba']`` (for a numeric target's values, which
    have neither)."""
    from .. import _keys

    confidence = _keys.confidence_key(key_added)
    if confidence in adata.obs.columns:
        out.remove("obs", confidence)
        out.note("removed obs[%r], the confidence of an earlier prediction", confidence)
    if proba:
        out.remove("obsm", _keys.proba_key(key_added))


def replaces_scores(out: Outputs, adata: AnnData, key_added: str, tool: str) -> None:
    """Note in ``out`` that ``tool`` (embed or encode) replaces ``uns[key_added]`` when it
    holds only the scores of :func:`~scautogenome.tl.embedding_scores` (of another basis, e.g.
    a PCA baseline scored under the key first): they do not describe the new latent."""
    record = getattr(adata, "uns", {}).get(key_added)
    if is_scores_record(record):
        scores = record["scores"]
        out.note(
            "replaced adata.uns[%r], the scores of sag.tl.embedding_scores (obsm[%r] against "
            "obs[%r]), with the record of sag.tl.%s",
            key_added,
            str(scores["basis"]),
            str(scores["labels_key"]),
            tool,
        )


_REMOVE = object()  # Outputs: the key is removed


class Outputs:
    """What a tool writes into the user's AnnData, each value prepared in full before the
    first write (the ``uns`` record made h5ad-safe, categoricals, colours, float32 arrays):
    :meth:`write` then makes the writes in one block that nothing ordinary stops, so that an
    error or Ctrl-C while they are prepared leaves the AnnData as it was, never half-written
    (one run's predictions beside another run's record). What was replaced or removed is
    logged after the writes, in the order noted."""

    def __init__(self) -> None:
        self._writes: list[tuple[str, str, object]] = []
        self._notes: list[tuple[str, str, tuple]] = []

    def set(self, slot: str, key: str, value) -> None:
        """``adata.{slot}[key] = value`` (``slot``: ``"obs"``, ``"obsm"``, ``"obsp"``,
        ``"layers"``, ``"varm"`` or ``"uns"``)."""
        self._writes.append((slot, key, value))

    def remove(self, slot: str, key: str) -> None:
        """``del adata.{slot}[key]``, where it is there."""
        self._writes.append((slot, key, _REMOVE))

    def note(self, msg: str, *args, level: str = "info") -> None:
        """Log ``msg % args`` at ``level`` (``"info"``, ``"warning"``) once the writes are
        made."""
        self._notes.append((level, msg, args))

    def write(self, adata: AnnData) -> None:
        """Make the writes, in the order given, then log the notes."""
        from .._settings import logger

        for slot, key, value in self._writes:
            where = getattr(adata, slot)
            if value is not _REMOVE:
                where[key] = value
            elif key in where:  # obs: its columns
                del where[key]
        for level, msg, args in self._notes:
            getattr(logger, level)(msg, *args)


def few_test_classes(test: dict, classes) -> tuple[int, str, float]:
    """The classes of a classify record's test ``metrics`` with 1 or 2 test cells: how many,
    their names with their counts (the first 10, ``'B' (1), 'NK' (2)``), and by how much one
    cell can move the macro-F1 (1 / the classes with test cells), which ``classify`` warns of
    and the report notes."""
    import numpy as np

    support = np.asarray(test.get("per_class", {}).get("support", []), dtype=float)
    few = [(str(c), int(n)) for c, n in zip(classes, support) if 0 < n < 3]
    named = ", ".join(f"{c!r} ({n})" for c, n in few[:10])
    named += f", ... ({len(few)} in all)" if len(few) > 10 else ""
    return len(few), named, 1 / max(1, int((support > 0).sum()))
