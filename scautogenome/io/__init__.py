"""Readers (``sag.io``): bulk and single-cell tables, TCGA files, MAF mutations, AutoGenome input.

Every reader returns AnnData of samples x features with labels in ``obs`` and a record of what
it read and decided in ``uns['sag_io']`` (h5ad-safe)::

    adata = sag.io.read_table("expr.tsv.gz", labels="labels.csv", label_column="cell_type")
    adata = sag.io.read_tcga({"BRCA": "brca.tsv.gz", "LUAD": "luad.tsv.gz"}, tumor_only=True)
    muts = sag.io.read_maf("mc3.maf.gz", level="sample", samples=adata.obs["sample"].unique())
    adata, config = sag.io.read_autogenome("autogenome_config.json")

``sag.io.write_report(adata, "report.html")`` writes the self-contained HTML report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

# each imported on first use: the checks that tell samples from cells read the barcodes module
# alone, without the readers and the report
_LAZY = {
    "IO_KEY": "_table",
    "parse_tcga_barcode": "_barcodes",
    "read_autogenome": "_autogenome",
    "read_maf": "_maf",
    "read_table": "_table",
    "read_tcga": "_tcga",
    "write_report": "_report",
}

__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def __dir__():
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from ._autogenome import read_autogenome
    from ._barcodes import parse_tcga_barcode
    from ._maf import read_maf
    from ._report import write_report
    from ._table import IO_KEY, read_table
    from ._tcga import read_tcga

__all__ = [
    "IO_KEY",
    "parse_tcga_barcode",
    "read_autogenome",
    "read_maf",
    "read_table",
    "read_tcga",
    "write_report",
]
