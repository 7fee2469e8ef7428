"""TCGA barcodes: parsing into patient / sample / sample type, and id matching across levels."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from .._utils import is_one_of

# GDC sample type codes (https://gdc.cancer.gov/resources-tcga-users/tcga-code-tables/sample-type-codes)
# code -> (name as in GDC's data model, Firehose short letter code)
SAMPLE_TYPES: dict[str, tuple[str, str]] = {
    "01": ("Primary Tumor", "TP"),
    "02": ("Recurrent Tumor", "TR"),
    "03": ("Primary Blood Derived Cancer - Peripheral Blood", "TB"),
    "04": ("Recurrent Blood Derived Cancer - Bone Marrow", "TRBM"),
    "05": ("Additional - New Primary", "TAP"),
    "06": ("Metastatic", "TM"),
    "07": ("Additional Metastatic", "TAM"),
    "08": ("Human Tumor Original Cells", "THOC"),
    "09": ("Primary Blood Derived Cancer - Bone Marrow", "TBM"),
    "10": ("Blood Derived Normal", "NB"),
    "11": ("Solid Tissue Normal", "NT"),
    "12": ("Buccal Cell Normal", "NBC"),
    "13": ("EBV Immortalized Normal", "NEBV"),
    "14": ("Bone Marrow Normal", "NBM"),
    "15": ("sample type 15", "15SH"),
    "16": ("sample type 16", "16SH"),
    "20": ("Control Analyte", "CELLC"),
    "40": ("Recurrent Blood Derived Cancer - Peripheral Blood", "TRB"),
    "50": ("Cell Lines", "CELL"),
    "60": ("Primary Xenograft Tissue", "XP"),
    "61": ("Cell Line Derived Xenograft Tissue", "XCL"),
    "99": ("sample type 99", "99SH"),
}
TUMOR_CODES = frozenset({"01", "02", "03", "04", "05", "06", "07", "08", "09", "40"})

# TCGA project codes (GDC "TCGA-XXXX" without the prefix) and Firehose's aggregate cohorts
TCGA_PROJECTS = [
    "ACC",
    "BLCA",
    "BRCA",
    "CESC",
    "CHOL",
    "COAD",
    "DLBC",
    "ESCA",
    "GBM",
    "HNSC",
    "KICH",
    "KIRC",
    "KIRP",
    "LAML",
    "LGG",
    "LIHC",
    "LUAD",
    "LUSC",
    "MESO",
    "OV",
    "PAAD",
    "PCPG",
    "PRAD",
    "READ",
    "SARC",
    "SKCM",
    "STAD",
    "TGCT",
    "THCA",
    "THYM",
    "UCEC",
    "UCS",
    "UVM",
]
FIREHOSE_AGGREGATES = {  # code -> what it merges (its samples are those of these projects)
    "COADREAD": "COAD and READ",
    "GBMLGG": "GBM and LGG",
    "KIPAN": "KICH, KIRC and KIRP",
    "STES": "STAD and ESCA",
    "FPPP": "FFPE pilot samples of several projects",
}

_BARCODE = re.compile(
    r"^TCGA-(?P<tss>[A-Z0-9]{2})-(?P<participant>[A-Z0-9]{4})"
    r"(?:-(?P<sample_type_code>\d{2})(?P<vial>[A-Z])?"
    r"(?:-(?P<portion>\d{2})(?P<analyte>[A-Z])?"
    r"(?:-(?P<plate>[A-Z0-9]{4})(?:-(?P<center>[A-Z0-9]{2}))?)?)?)?$"
)
_FIELDS = (
    "tss",
    "participant",
    "sample_type_code",
    "vial",
    "portion",
    "analyte",
    "plate",
    "center",
)


def normalize_barcode(value: str) -> str:
    """Upper-case and ``.``/``_`` -> ``-`` (R's ``make.names`` and Firehose clinical files)."""
    text = str(value).strip().upper()
    if text.startswith(("TCGA.", "TCGA_")):
        text = text.replace(".", "-").replace("_", "-")
    return text


def is_barcode(value: str) -> bool:
    return _BARCODE.match(normalize_barcode(value)) is not None


def barcode_fraction(values: Iterable[str]) -> float:
    values = list(values)
    if not values:
        return 0.0
    return sum(is_barcode(v) for v in values) / len(values)


def barcode_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` (a clinical or label table) whose values are mostly TCGA
    barcodes (of the first 200 given), in their order."""
    return [
        str(c)
        for c in frame.columns
        if barcode_fraction(frame[c].dropna().astype(str).head(200)) >= 0.5
    ]


def parse_tcga_barcode(
    barcodes: Sequence[str] | pd.Index | pd.Series | str,
    *,
    errors: Literal["raise", "coerce"] = "raise",
) -> pd.DataFrame:
    """Split TCGA barcodes (``TCGA-XX-XXXX-01A-11R-A00Z-07`` or any prefix of it) into fields.

    Barcodes are normalised first: upper case, and ``TCGA.A1.A0SB`` / ``TCGA_A1_A0SB`` (R and
    Firehose spellings) become ``TCGA-A1-A0SB``.

    Parameters
    ----------
    barcodes
        One barcode or a sequence of them; patient (12 characters), sample (15-16) and aliquot
        (28) barcodes may be mixed.
    errors
        ``"raise"``: a string that is not a TCGA barcode is an error naming it; ``"coerce"``: its
        row is all missing (``is_tumor`` False).

    Returns
    -------
    A DataFrame indexed by the barcodes as given, with string columns

    ``barcode``
        The normalised barcode.
    ``patient``
        ``TCGA-XX-XXXX`` (project-independent participant id).
    ``sample``
        ``TCGA-XX-XXXX-NN`` (through the sample type code; missing for patient barcodes).
    ``tss``, ``participant``, ``sample_type_code``, ``vial``, ``portion``, ``analyte``, ``plate``, ``center``
        The barcode's fields (missing where the barcode stops before them).
    ``sample_type``, ``sample_type_short``
        GDC's name (``"Primary Tumor"``, ``"Solid Tissue Normal"``, ...) and Firehose's letter
        code (``TP``, ``NT``, ...) of the sample type code.

    and a boolean column ``is_tumor`` (sample type codes 01-09 and 40).
    """
    if not isinstance(barcodes, Iterable):  # a number: no barcode
        from .._utils import short_repr

        msg = (
            f"barcodes={short_repr(barcodes)} must be a str (one barcode) or a sequence of "
            f"them (a list, pd.Index or pd.Series), not a {type(barcodes).__name__}."
        )
        raise TypeError(msg)
    if not is_one_of(errors, ("raise", "coerce")):
        msg = f"errors={errors!r} must be 'raise' or 'coerce'."
        raise ValueError(msg)
    if isinstance(barcodes, str):
        barcodes = [barcodes]
    given = [str(b) for b in barcodes]
    rows = []
    for raw in given:
        norm = normalize_barcode(raw)
        m = _BARCODE.match(norm)
        if m is None:
            if errors == "raise":
                msg = (
                    f"{raw!r} is not a TCGA barcode (expected TCGA-XX-XXXX[-NNA[-NNA[-XXXX[-NN]]]], "
                    "e.g. TCGA-A1-A0SB-01A-11R-A144-07)."
                )
                raise ValueError(msg)
            rows.append(dict.fromkeys(("barcode", "patient", "sample", *_FIELDS)))
            continue
        d = m.groupdict()
        patient = f"TCGA-{d['tss']}-{d['participant']}"
        code = d["sample_type_code"]
        rows.append(
            {
                "barcode": norm,
                "patient": patient,
                "sample": f"{patient}-{code}" if code else None,
                **d,
            }
        )
    out = pd.DataFrame(
        rows, index=pd.Index(given, name=None), columns=["barcode", "patient", "sample", *_FIELDS]
    )
    codes = out["sample_type_code"]
    out["sample_type"] = codes.map(
        lambda c: SAMPLE_TYPES.get(c, (f"sample type {c}", ""))[0] if isinstance(c, str) else None
    )
    out["sample_type_short"] = codes.map(
        lambda c: SAMPLE_TYPES.get(c, ("", c))[1] if isinstance(c, str) else None
    )
    out["is_tumor"] = codes.isin(TUMOR_CODES).to_numpy(dtype=bool)
    return out.astype({c: "object" for c in out.columns if c != "is_tumor"})


def barcode_obs(ids: Sequence[str]) -> pd.DataFrame:
    """obs columns from TCGA barcodes, categorical where repetitive (h5ad-safe, no None)."""
    parsed = parse_tcga_barcode(ids, errors="coerce")
    keep = ["patient", "sample", "sample_type_code", "sample_type", "sample_type_short", "vial"]
    out = pd.DataFrame(index=pd.Index(list(ids)))
    for col in keep:
        out[col] = pd.Categorical(parsed[col].to_numpy())
    out["is_tumor"] = parsed["is_tumor"].to_numpy(dtype=bool)
    return out


def _prefixes(barcode: str) -> list[str]:
    """A barcode and its shorter TCGA levels, longest first (aliquot ... sample ... patient)."""
    m = _BARCODE.match(barcode)
    if m is None:
        return [barcode]
    d = m.groupdict(default="")
    patient = f"TCGA-{d['tss']}-{d['participant']}"
    out = [barcode]
    if d["sample_type_code"]:
        vial = f"{patient}-{d['sample_type_code']}{d['vial']}"
        if d["portion"]:
            portion = f"{vial}-{d['portion']}{d['analyte']}"
            if d["plate"]:
                out.append(f"{portion}-{d['plate']}")
            out.append(portion)
        out += [vial, f"{patient}-{d['sample_type_code']}"]
    out.append(patient)
    return list(dict.fromkeys(out))


def match_ids(obs_ids: Sequence[str], table_ids: Sequence[str]) -> tuple[np.ndarray, str]:
    """Position in ``table_ids`` of each obs id (-1: none), and how ids were matched.

    Exact matches first; then, when both sides are TCGA barcodes, each obs barcode still
    unmatched is matched by its longest prefix (aliquot -> sample -> patient) present in the
    table, so that a clinical table of patients labels every sample of a patient (also when
    some of its rows are aliquots that match exactly). Obs barcodes still unmatched then meet
    the table's barcodes at their longest common level down to the sample (a table of
    ``...-01A`` vials for ``...-01`` samples, an RNA aliquot for a DNA one); a level that two
    table rows share is not used.

    The second value is ``"exact"`` (every match is exact, or no id matched),
    ``"tcga_prefix"`` (every match is by barcode level) or ``"exact+tcga_prefix"`` (some of
    each).
    """
    table_pos = {str(t).strip(): i for i, t in enumerate(table_ids)}
    pos = np.array([table_pos.get(str(o).strip(), -1) for o in obs_ids], dtype=np.int64)
    n_exact = int((pos >= 0).sum())
    if n_exact == len(pos):
        return pos, "exact"
    if barcode_fraction(table_ids) < 0.5 or barcode_fraction(obs_ids) < 0.5:
        return pos, "exact"
    norm_pos = {normalize_barcode(t): i for i, t in enumerate(table_ids)}
    for k, o in enumerate(obs_ids):
        if pos[k] >= 0:
            continue
        for prefix in _prefixes(normalize_barcode(o)):
            if prefix in norm_pos:
                pos[k] = norm_pos[prefix]
                break
    if (pos < 0).any():  # the table's barcodes reduced to their shorter levels, above the patient
        reduced: dict[str, int] = {}
        shared: set[str] = set()
        for i, t in enumerate(table_ids):
            for prefix in _prefixes(normalize_barcode(t))[1:-1]:
                if reduced.setdefault(prefix, i) != i:
                    shared.add(prefix)
        for k, o in enumerate(obs_ids):
            if pos[k] >= 0:
                continue
            for prefix in _prefixes(normalize_barcode(o)):
                if prefix in reduced and prefix not in shared:
                    pos[k] = reduced[prefix]
                    break
    n_prefix = int((pos >= 0).sum()) - n_exact
    if n_prefix == 0:
        return pos, "exact"
    return pos, "exact+tcga_prefix" if n_exact else "tcga_prefix"


def ambiguous_matches(
    obs_ids: Sequence[str], table_ids: Sequence[str], pos: np.ndarray
) -> dict[int, list[int]]:
    """The obs ids that :func:`match_ids` left unmatched (``pos`` -1) because their barcode
    meets several table barcodes at one level (two DNA aliquots of the sample of an RNA
    aliquot): obs position -> those table positions."""
    if not (pos < 0).any():
        return {}
    if barcode_fraction(table_ids) < 0.5 or barcode_fraction(obs_ids) < 0.5:
        return {}
    at_level: dict[str, list[int]] = {}  # as match_ids: the levels above the patient
    for i, t in enumerate(table_ids):
        for prefix in _prefixes(normalize_barcode(t))[1:-1]:
            at_level.setdefault(prefix, []).append(i)
    out: dict[int, list[int]] = {}
    for k, o in enumerate(obs_ids):
        if pos[k] >= 0:
            continue
        for prefix in _prefixes(normalize_barcode(o)):
            if prefix in at_level:  # the longest level the table has: one row would match
                if len(at_level[prefix]) > 1:
                    out[k] = at_level[prefix]
                break
    return out
