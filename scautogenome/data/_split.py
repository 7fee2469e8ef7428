"""Seeded, stratified train/val/test splits, keeping the samples of one patient together."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._keys import SPLITS
from .._settings import logger
from .._utils import check_key, columns_listed, shown_values
from ._checks import obs_noun

if TYPE_CHECKING:
    from anndata import AnnData

MIN_CELLS_TO_SPLIT = 3

# the patient part of a TCGA barcode at any level (TCGA-OR-A5J1, -01A, -01A-11R-A29S-07), in
# GDC's spelling or R's (dots) and Firehose's (underscores)
_TCGA_PATIENT = re.compile(r"^TCGA[-._]([A-Z0-9]{2})[-._]([A-Z0-9]{4})(?=$|[-._])", re.IGNORECASE)
# the donor part of a GTEx sample id (GTEX-1117F-0226-SM-5GZZ7): one donor gives many tissues
_GTEX_DONOR = re.compile(r"^GTEX[-._]([A-Z0-9]+)(?=$|[-._])", re.IGNORECASE)
AUTO_GROUPS = "TCGA patient of obs_names"
DUPLICATE_GROUPS = "duplicated obs_names"  # "auto" for names that are not TCGA barcodes


def stratified_split(
    codes: np.ndarray, *, seed: int, val_frac: float = 0.1, test_frac: float = 0.1
) -> np.ndarray:
    """Per class, ``max(1, round(frac * n))`` cells go to val and to test, the rest to train.

    ``codes`` holds class codes, -1 for cells without a usable label (they get ``"none"``).
    Returns an array of ``"train"``/``"val"``/``"test"``/``"none"`` strings.
    """
    rng = np.random.default_rng(seed)
    split = np.full(codes.shape[0], "none", dtype=object)
    for c in np.unique(codes[codes >= 0]):
        idx = np.flatnonzero(codes == c)
        rng.shuffle(idx)
        n = idx.size
        n_val = max(1, round(val_frac * n))
        n_test = max(1, round(test_frac * n))
        split[idx[:n_test]] = "test"
        split[idx[n_test : n_test + n_val]] = "val"
        split[idx[n_test + n_val :]] = "train"
    return split.astype(str)


def val_from_train(
    split: np.ndarray, codes: np.ndarray, *, seed: int, groups: np.ndarray | None = None
) -> np.ndarray:
    """``split`` with a stratified validation part drawn from its training cells: per class
    ``round(n / 9)`` of its ``n`` training cells (at least 1, and none from a class with a
    single training cell), the 8:1 of train and val that :func:`stratified_split` gives.
    With ``groups`` (where a group holds several training cells) whole groups are drawn
    instead (:func:`_draw_groups`, at most two ninths of the training groups), so no group
    sits in train and val."""
    rng = np.random.default_rng(seed)
    out = split.copy()
    train = np.where(split == "train", codes, -1)
    if groups_repeat(groups, train >= 0):
        drawn = _draw_groups(train, groups, rng, (("val", 1 / 9),), 2)
        out[drawn == "val"] = "val"
        return out
    for c in np.unique(codes[codes >= 0]):
        idx = np.flatnonzero((codes == c) & (split == "train"))
        if idx.size < 2:
            continue
        rng.shuffle(idx)
        out[idx[: max(1, round(idx.size / 9))]] = "val"
    return out


def user_split(
    values: pd.Series,
    split_key: str,
    labelled: np.ndarray,
    codes: np.ndarray | None = None,
    seed: int = 0,
    groups: np.ndarray | None = None,
    noun: str = "cells",
) -> np.ndarray:
    """Validate a user split column: values must be train/val/test (missing -> not used).
    ``noun``: what the rows are called in messages (``"samples"`` for bulk data).

    Without labelled ``val`` cells and given the class ``codes``, a stratified validation part
    is drawn (with ``seed``; as whole ``groups`` where given) from the training cells, so that
    a train/test split (AutoGenome's layout without an eval file) keeps its test cells held
    out."""
    s = values.astype("object").where(values.notna(), "none").astype(str).to_numpy()
    bad = sorted(set(s[labelled]) - set(SPLITS) - {"none"})
    if bad:
        msg = (
            f"obs[{split_key!r}] holds {shown_values(bad, total='distinct values')}; split "
            f"values must be one of {list(SPLITS)} "
            f"(NaN or 'none' for {noun} to leave out)."
        )
        raise ValueError(msg)
    if not np.any((s == "train") & labelled):
        msg = f"obs[{split_key!r}] has no labelled 'train' {noun}; a search needs train {noun}."
        raise ValueError(msg)
    s = s.copy()
    s[~labelled] = "none"
    if not np.any(s == "val"):
        if codes is None:
            msg = f"obs[{split_key!r}] has no labelled 'val' {noun}; a search needs both train and val."
            raise ValueError(msg)
        s = val_from_train(s, codes, seed=seed, groups=groups)
        if not np.any(s == "val"):
            msg = (
                f"obs[{split_key!r}] has no labelled 'val' {noun}, and its training {noun} are "
                "too few to draw a validation part from (by groups: fewer than two, or each "
                f"holding the only training {noun} of a class); a search needs both. Mark some "
                f"{noun} 'val'."
            )
            raise ValueError(msg)
        drawn = int((s == "val").sum())
        logger.warning(
            "obs[%r] has no labelled 'val' %s: %d of its training %s (%.0f%%), drawn per "
            "class (per quantile bin of a numeric target)%s, "
            "validate the search instead (its test %s stay held out).",
            split_key,
            noun,
            drawn,
            noun,
            100 * drawn / (drawn + int((s == "train").sum())),
            " as whole groups" if groups_repeat(groups, s == "train") else "",
            noun,
        )
    if not np.any(s == "test"):
        logger.warning(
            "obs[%r] has no labelled 'test' %s: the test metrics will be NaN (n = 0).",
            split_key,
            noun,
        )
    return s


def tcga_patients(ids) -> np.ndarray | None:
    """``TCGA-XX-XXXX`` (the patient) of every id when each is a TCGA barcode, else None."""
    out = patient_groups(ids)
    return None if out is None or not_patients(out).any() else out


def not_patients(groups: np.ndarray) -> np.ndarray:
    """Which :func:`patient_groups` are names of their own, not TCGA patients."""
    return np.fromiter((g.startswith("\0") for g in groups), dtype=bool, count=len(groups))


def patient_groups(ids) -> np.ndarray | None:
    """The group of every id where some are TCGA barcodes: ``TCGA-XX-XXXX`` (the patient) of
    a barcode; of another name (a GTEx normal beside TCGA tumours, say) its GTEx donor
    (``GTEX-XXXXX``: a donor's tissues are one person) or else the id itself, marked so that
    it cannot meet a patient; None where no id is a barcode."""
    out, any_barcode = [], False
    for v in ids:
        m = _TCGA_PATIENT.match(str(v).strip())
        if m is None:
            donor = _GTEX_DONOR.match(str(v).strip())
            out.append(f"\0GTEX-{donor.group(1).upper()}" if donor else f"\0{v}")
        else:
            any_barcode = True
            out.append(f"TCGA-{m.group(1)}-{m.group(2)}".upper())
    return np.asarray(out, dtype=object) if any_barcode else None


def _repeats_a_patient(groups: np.ndarray) -> bool:
    """Whether two :func:`patient_groups` are one person (a TCGA patient, a GTEx donor) or
    one name."""
    return len(set(groups)) < len(groups)


# obs columns (in any case) that name each cell's donor or sample in single-cell studies
_DONOR_COLUMNS = tuple(
    f"{stem}{end}"
    for stem in ("donor", "patient", "individual", "subject", "sample")
    for end in ("", "_id", "id")
)


def _hint_donor_column(
    adata: AnnData, used: np.ndarray, labels_key: str | None, codes: np.ndarray | None
) -> None:
    """Log, for a split drawn cell by cell, an ``obs`` column that names each cell's donor or
    sample (two or more of them, at least two cells each on average): its test cells then come
    from donors the model trained on, which ``group_key=`` that column avoids. Not the labels'
    column, nor one whose values match the classes (``codes``) one to one, whose groups
    would each hold a whole class."""
    for column in adata.obs.columns:
        if str(column).lower() not in _DONOR_COLUMNS or column == labels_key:
            continue
        values = pd.Series(adata.obs[column].to_numpy()[used])
        n = values.nunique(dropna=True)
        if codes is not None:
            pairs = pd.DataFrame({"v": values.to_numpy(), "c": codes[used]}).dropna()
            if len(pairs.drop_duplicates()) == n == pairs["c"].nunique():
                continue
        if 2 <= n <= len(values) / 2:
            noun = obs_noun(adata)
            logger.info(
                "obs[%r] names %d donors or samples; the split draws %s one by one, so that "
                "the test %s share them with the training %s. group_key=%r keeps each in one "
                "part: a test of donors the model has not seen.",
                column,
                n,
                noun,
                noun,
                noun,
                column,
            )
            return


def resolve_groups(
    adata: AnnData,
    group_key: str | None,
    used: np.ndarray,
    *,
    hint_donors: bool = False,
    labels_key: str | None = None,
    codes: np.ndarray | None = None,
) -> tuple[np.ndarray | None, str | None]:
    """The group of every cell whose samples must share a split, and what it was read from.

    ``"auto"``: the TCGA patient of each ``obs_name`` named by a TCGA barcode (a tumour and
    its normal, or two aliquots, are one patient), the GTEx donor of a GTEx sample id beside
    them, each other name a group of its own, when
    most used cells are named by barcodes or two of them are one patient; else, where used
    cells share an ``obs_name`` (a sample exported twice), the name, so that the copies are
    not trained on and tested on; else no groups.
    A column name: its values (a missing value is a group of its own). None: no groups.
    ``hint_donors``: log an ``obs`` column of donors or samples that ``"auto"`` leaves
    ungrouped (not ``labels_key``, nor a column one to one with the class ``codes``).
    """
    if group_key is None:
        return None, None
    check_key("group_key", group_key, "one column of adata.obs (or 'auto', or None)")
    if group_key == "auto":
        names = adata.obs_names[used]
        of_used, what = patient_groups(names), AUTO_GROUPS
        others = 0 if of_used is None else int(not_patients(of_used).sum())
        if others * 2 > len(names) and not _repeats_a_patient(of_used):
            # a stray barcode-like name among others is no TCGA data; a patient (or GTEx
            # donor) of two samples beside more of other names still is
            of_used, others = None, 0
        if others:
            logger.info(
                "group_key='auto': %d of the %d %s are named by TCGA barcodes, whose samples "
                "are kept in one part per patient; the other %d (e.g. %s) per GTEx donor "
                "(GTEX-XXXXX), or one by one.",
                len(names) - others,
                len(names),
                obs_noun(adata),
                others,
                [str(n) for n in names[not_patients(of_used)][:3]],
            )
        if of_used is None:
            if names.is_unique:
                if hint_donors:  # a seeded split, drawn cell by cell
                    _hint_donor_column(adata, used, labels_key, codes)
                return None, None
            logger.info(
                "group_key='auto': %d %s share their obs_name with another (%d names); the "
                "rows of one name are kept in one part of the split (group_key=None splits "
                "them one by one).",
                int(names.duplicated(keep=False).sum()),
                obs_noun(adata),
                names[names.duplicated()].nunique(),
            )
            of_used, what = names.astype(str).to_numpy(dtype=object), DUPLICATE_GROUPS
        groups = np.full(adata.n_obs, None, dtype=object)
        groups[used] = of_used
        return groups, what
    if not isinstance(group_key, str) or group_key not in adata.obs.columns:
        msg = (
            f"group_key={group_key!r} is not a column of adata.obs; "
            f"{columns_listed(adata.obs.columns, [group_key])} (or 'auto', or None for no groups)."
        )
        raise KeyError(msg)
    values = adata.obs[group_key]
    groups = values.astype(str).to_numpy(dtype=object)
    lone = values.isna().to_numpy()
    groups[lone] = [f"\0cell {i}" for i in np.flatnonzero(lone)]  # each its own group
    return groups, group_key


def groups_repeat(groups: np.ndarray | None, used: np.ndarray) -> bool:
    """Whether some group holds two or more of the ``used`` cells."""
    return groups is not None and bool(pd.Series(groups[used]).duplicated().any())


def _draw_groups(
    codes: np.ndarray,
    groups: np.ndarray,
    rng: np.random.Generator,
    held_out: tuple[tuple[str, float], ...],
    least: int,
) -> np.ndarray:
    """Parts of the used cells (``codes >= 0``) drawn as whole groups, stratified on each
    group's most frequent class: per stratum ``max(1, round(frac * n))`` of its ``n`` groups
    to each ``(part, frac)`` of ``held_out`` in turn, the rest to ``"train"``. The groups of
    the classes of fewer than ``least`` groups are drawn together as one stratum (a few
    donors that each hold every class); a stratum of fewer than ``least`` groups all trains.
    A part takes at most ``max(1, round(2 * frac * N))`` of all ``N`` groups (:func:`_places`:
    nine donors of three cell types give 5:2:2, not 3:3:3), groups of more than twice a part's
    share of the cells only where a stratum has no other. A group is held out only where
    each class of its cells keeps training cells in another group; a place a stratum cannot
    fill so goes to another. Returns one part per cell (``"none"`` where unused)."""
    used = codes >= 0
    rows = np.flatnonzero(used)
    names, inv = np.unique(groups[rows].astype(str), return_inverse=True)
    members = pd.DataFrame({"group": inv, "code": codes[rows]})
    counts = members.groupby(["group", "code"]).size().reset_index(name="n")
    # the classes of each group's cells (counts is sorted by group)
    classes_of = np.split(counts["code"].to_numpy(), np.flatnonzero(np.diff(counts["group"])) + 1)
    training_groups = np.bincount(counts["code"].to_numpy(), minlength=int(codes.max()) + 1)
    # most frequent class of each group, the smallest code on a tie
    counts = counts.sort_values(["group", "n", "code"], ascending=[True, False, True])
    group_code = counts.drop_duplicates("group").set_index("group")["code"]
    group_code = group_code.reindex(np.arange(names.size)).to_numpy()
    strata, pooled = [], []
    for c in np.unique(group_code):
        idx = np.flatnonzero(group_code == c)
        (strata if idx.size >= least else pooled).append(idx)
    if pooled:
        strata.append(np.concatenate(pooled))
    strata = [idx for idx in strata if idx.size >= least]
    cells = np.bincount(inv, minlength=names.size)
    big = max(frac for _, frac in held_out) * 2 * rows.size  # twice a part's share of cells
    for k, idx in enumerate(strata):
        rng.shuffle(idx)
        # in the drawn order, the groups of more than twice a part's share of the cells last:
        # one donor of 60% of them drawn to val left 30% to train
        strata[k] = idx[np.argsort(cells[idx] > big, kind="stable")]
    sizes = np.array([idx.size for idx in strata], dtype=np.int64)
    part_of_group = np.full(names.size, "train", dtype=object)

    def take(idx: np.ndarray, n: int, part: str) -> int:
        """Up to ``n`` groups of ``idx`` (in its drawn order) into ``part``, those whose
        classes all keep a training group; how many."""
        taken = 0
        for g in idx[part_of_group[idx] == "train"]:
            if taken == n:
                break
            if (training_groups[classes_of[g]] > 1).all():
                part_of_group[g] = part
                training_groups[classes_of[g]] -= 1
                taken += 1
        return taken

    drawn = []
    for part, frac in held_out:
        places = _places(sizes, frac, max(1, round(2 * frac * names.size)), rng)
        taken = np.array([take(idx, n, part) for idx, n in zip(strata, places, strict=True)])
        drawn.append((part, frac, int(places.sum() - taken.sum()), taken))
    # once every part has its own: a place a stratum could not fill goes to the strata
    # furthest below their share
    for part, frac, left, taken in drawn:
        for s in np.argsort(-(frac * sizes - taken), kind="stable"):
            if left == 0:
                break
            left -= take(strata[s], left, part)
    split = np.full(codes.shape[0], "none", dtype=object)
    split[rows] = part_of_group[inv]
    return split


def _places(sizes: np.ndarray, frac: float, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Groups of each stratum (of ``sizes`` groups) a part of fraction ``frac`` takes:
    ``max(1, round(frac * n))``, at most ``cap`` in all; over it, places are taken back one by
    one from the strata that hold the most over their share ``frac * n`` (ties drawn)."""
    places = np.maximum(1, np.round(frac * sizes)).astype(np.int64)
    if places.sum() > cap:
        order = rng.permutation(sizes.size)
        for _ in range(int(places.sum()) - cap):
            over = (places - frac * sizes)[order]
            over[places[order] == 0] = -np.inf
            places[order[np.argmax(over)]] -= 1
    return places


def group_split(
    codes: np.ndarray,
    groups: np.ndarray | None,
    *,
    seed: int,
    what: str | None = None,
    classes=None,
    val_frac: float = 0.1,
    test_frac: float = 0.1,
) -> np.ndarray:
    """:func:`stratified_split` that keeps the used cells of each group in one part.

    Without groups, or where no group holds two used cells, it is :func:`stratified_split`
    itself (the same split for the same seed). Otherwise whole groups are drawn
    (:func:`_draw_groups`): per class ``max(1, round(frac * n))`` of the ``n`` groups it is
    the most frequent class of go to test and to val, the rest to train; the groups of
    classes of fewer than 3 groups are drawn together; each part takes at most twice its
    fraction of all groups. Warnings name the classes left without val or test cells, and
    say when less than 70% of the cells train. ``what`` names the groups, ``classes`` the
    codes, in the log.
    """
    used = codes >= 0
    if not groups_repeat(groups, used):
        return stratified_split(codes, seed=seed, val_frac=val_frac, test_frac=test_frac)
    rng = np.random.default_rng(seed)
    held_out = (("test", test_frac), ("val", val_frac))
    split = _draw_groups(codes, groups, rng, held_out, MIN_CELLS_TO_SPLIT)
    sizes = pd.Series(groups[used].astype(str)).value_counts()
    logger.info(
        "split by %s: %d groups, %d of them with several cells (up to %d), each kept in one part",
        what or "group",
        sizes.size,
        int((sizes > 1).sum()),
        int(sizes.max()),
    )
    lacking = []
    for c in np.unique(codes[used]):
        parts = [p for p in ("val", "test") if not np.any((codes == c) & (split == p))]
        if parts:
            name = str(classes[c]) if classes is not None else str(c)
            lacking.append(f"{name} (no {' or '.join(parts)})")
    if lacking:
        logger.warning(
            "the split by %s leaves class(es) %s: no group drawn for those parts holds their "
            "cells (whole groups are held out, each part at most a fifth of them, none holding "
            "a class's only training cells).",
            what or "group",
            ", ".join(lacking),
        )
    trains = float(np.mean(split[used] == "train"))
    if trains < 0.7:
        # by integer codes: pandas' groupby would merge the "\0..." names of resolve_groups
        _, code, size = np.unique(groups[used].astype(str), return_inverse=True, return_counts=True)
        part = np.empty(size.size, dtype=object)
        part[code] = split[used]  # one part per group
        held = part != "train"
        logger.warning(
            "the split by %s trains on %.0f%% of the labelled cells: %d of its %d groups are "
            "held out whole for val and test, the largest with %.0f%% of the cells; "
            "split_key= gives a split of your own.",
            what or "group",
            100 * trains,
            int(held.sum()),
            size.size,
            100 * size[held].max() / used.sum() if held.any() else 0.0,
        )
    return split.astype(str)


def warn_groups_across_parts(
    split: np.ndarray, groups: np.ndarray | None, split_key: str, what: str | None
) -> None:
    """Warn when a user's split puts cells of one group in training and in val or test, or
    in val and in test (the trial picked on val then favours them in test)."""
    if groups is None:
        return
    # by integer codes: pandas' groupby would merge the "\0cell i" names that resolve_groups
    # gives cells of a missing group value, each a group of its own
    names, code = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    frame = pd.DataFrame({"group": code, "part": split})
    frame = frame[frame["part"].isin(SPLITS)]
    parts = frame.groupby("group")["part"].agg(lambda p: set(p))
    parts.index = names[parts.index]
    leaking = [g for g, p in parts.items() if "train" in p and len(p) > 1]
    if leaking:
        logger.warning(
            "obs[%r] puts cells of %d group(s) (%s; e.g. %s) both in train and in val or "
            "test: their val/test scores measure memory of those groups as well as learning.",
            split_key,
            len(leaking),
            what or "group",
            leaking[0],
        )
    picked = [g for g, p in parts.items() if p == {"val", "test"}]
    if picked:
        logger.warning(
            "obs[%r] puts cells of %d group(s) (%s; e.g. %s) both in val and in test: the "
            "search keeps the trial that scores best on their val cells, which favours their "
            "test cells too, so the test metrics are somewhat optimistic.",
            split_key,
            len(picked),
            what or "group",
            picked[0],
        )


MIN_VALUES_OF_A_COPY = 10
"""Non-zero values a row needs for a val or test row equal to a training row to be called a
copy: sparse profiles (a few mutated genes) repeat by chance."""


def warn_copies_across_parts(X, split: np.ndarray, noun: str) -> None:
    """Warn where val or test rows of ``X`` hold every value of a training row (a sample
    exported twice, a cell duplicated): their scores measure memory, not learning. Rows are
    compared by two random projections of their values, read in blocks of rows (identical
    rows give identical sums; the matrix is never densified), those of fewer than
    :data:`MIN_VALUES_OF_A_COPY` non-zero values left out."""
    import scipy.sparse as sp

    from ._transform import _row_chunks

    n_obs, n_vars = X.shape
    u = np.random.default_rng(0).standard_normal((n_vars, 2))
    keys = np.empty(n_obs, dtype=np.complex128)
    enough = np.empty(n_obs, dtype=bool)
    for rows in _row_chunks(X, np.arange(n_obs), 2048):  # consecutive: read as a slice
        part = slice(int(rows[0]), int(rows[-1]) + 1)
        block = X[part]
        if sp.issparse(block):
            block = sp.csr_matrix(block)
            block.eliminate_zeros()
            nonzero = block.getnnz(axis=1)
        else:
            block = np.asarray(block)
            nonzero = np.count_nonzero(block, axis=1)
        proj = np.asarray(block @ u, dtype=np.float64)
        keys[part] = proj[:, 0] + 1j * proj[:, 1]
        enough[part] = nonzero >= MIN_VALUES_OF_A_COPY
    train = keys[(split == "train") & enough]
    counts = {}
    for part in ("test", "val"):
        rows = (split == part) & enough
        counts[part] = int(np.isin(keys[rows], train).sum()) if rows.any() else 0
    if not any(counts.values()):
        return
    said = " and ".join(f"{n:,} {part}" for part, n in counts.items() if n)
    logger.warning(
        "%s %s hold every value of a training %s (copies: a sample exported twice, say): their "
        "scores measure memory, not learning. Drop the copies, or pass group_key= naming what "
        "each copy shares with its original (a sample id), so that they sit in one part.",
        said,
        noun,
        noun[:-1],
    )
