"""AnnData -> tensors: input checks, transform, split and sparse-aware minibatches."""

from ._checks import (
    as_csr_or_dense,
    batch_codes,
    check_adata,
    check_finite,
    check_labels,
    check_not_continuous,
    get_matrix,
    names_of,
    obs_noun,
    value_stats,
)
from ._loader import BatchLoader, MissingGenes, check_batch_size, map_columns
from ._prepare import (
    FEW_VAL_CELLS,
    TASKS,
    LabelledData,
    gene_alignment,
    numeric_target,
    prepare_labelled,
    resolve_task,
    resolve_value_type,
)
from ._split import group_split, resolve_groups, stratified_split, tcga_patients, user_split
from ._transform import (
    InputTransform,
    block_rows,
    check_query_values,
    dense_rows,
    detect_value_type,
)

__all__ = [
    "FEW_VAL_CELLS",
    "TASKS",
    "BatchLoader",
    "InputTransform",
    "LabelledData",
    "MissingGenes",
    "as_csr_or_dense",
    "batch_codes",
    "block_rows",
    "check_adata",
    "check_batch_size",
    "check_finite",
    "check_labels",
    "check_not_continuous",
    "check_query_values",
    "dense_rows",
    "detect_value_type",
    "gene_alignment",
    "get_matrix",
    "group_split",
    "map_columns",
    "names_of",
    "numeric_target",
    "obs_noun",
    "prepare_labelled",
    "resolve_groups",
    "resolve_task",
    "resolve_value_type",
    "stratified_split",
    "tcga_patients",
    "user_split",
    "value_stats",
]
