"""Seconds of the paths recent changes touch, each as a ratio against a peer run in the same
process, in this checkout and in ``--base``.

- ``fit``: ``Classifier.fit`` of an MLP, 3 epochs on ``synthetic(2000 x 500)`` (the input
  checks every tool runs first: ``check_anndata``, ``as_csr_or_dense``, which now also look
  for a lazily read AnnData and a dask matrix); peer: sklearn's ``LogisticRegression`` on the
  same log1p values.
- ``labels``: ``sag.io.read_autogenome`` of 5,000 samples whose ``id<TAB>label`` file sits
  under a comma delimiter (the other-delimiter path); peer: ``pandas.read_csv`` of the same
  two files.
- ``table``: ``sag.io.read_table`` of a Firehose-style genes x samples file (2,000 genes x
  500 samples, a second header line, which is now logged; the header is now checked for
  empty ids and the first data row against the next); peer: ``pandas.read_csv`` of it.
- ``scores``: ``sag.tl.embedding_scores`` of a float64 basis of 10 dimensions on 2,000 cells
  (no t-SNE; checked in float64 before its cast to float32 since stop 62); peer: sklearn's
  ``silhouette_score`` and ``davies_bouldin_score`` of it.
- ``dupes``: ``value_stats`` (the input checks' pass over the values) of a 2,000 x 500 int32
  CSR that stores each value in two parts (duplicates summed in float64 since stop 62); peer:
  scipy's ``sum_duplicates`` of a copy.
- ``predict``: ``Classifier.predict`` of an AnnData of 20,000 cells x the model's 500 genes
  (the query's checks, ``min_gene_overlap`` among them, are one call since stop 63); peer:
  sklearn's ``LogisticRegression.predict`` of the same log1p values.
- ``load``: ``Classifier.load`` of a saved MLP of 1,024 and 512 units on those 500 genes
  (since stop 65 the network is built without drawing weights that the saved ones replace);
  peer: ``torch.load`` of its ``model.pt`` alone (``weights_only=True``).

Each tree runs in a fresh process, one thread, best of ``--tries``; the trees alternate
``--repeat`` times. Rows go to ``benchmarks/change_costs.jsonl`` (rows before 2026-12-07,
stop 61, have no ``table``; before stop 62, no ``scores`` and ``dupes``; before stop 63, no
``predict``; before stop 65, no ``load``).

Usage (not part of CI; about two minutes)::

    OMP_NUM_THREADS=1 python benchmarks/change_costs.py --base 640d42a --repeat 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _versions import append_rows, compare_args, head_state, run_both, run_worker, worktree

HERE = Path(__file__).resolve().parent


def _best(f, tries: int) -> float:
    seconds = []
    for _ in range(tries):
        start = time.perf_counter()
        f()
        seconds.append(time.perf_counter() - start)
    return min(seconds)


def _files(folder: Path) -> Path:
    import numpy as np

    rng = np.random.default_rng(0)
    n, g = 5000, 50
    rows = [f"s{i}," + ",".join(f"{v:.3f}" for v in rng.random(g)) for i in range(n)]
    (folder / "x.csv").write_text("id," + ",".join(f"g{j}" for j in range(g)) + "\n")
    with open(folder / "x.csv", "a") as fh:
        fh.write("\n".join(rows) + "\n")
    labels = rng.choice(["A", "B", "C"], n)
    (folder / "y.txt").write_text("".join(f"s{i}\t{lab}\n" for i, lab in enumerate(labels)))
    loader = {"train_data_path": "x.csv", "train_label_path": "y.txt", "delimiter": ",",
              "header": True}  # fmt: skip
    (folder / "config.json").write_text(json.dumps({"data_loader": loader}))
    return folder / "config.json"


def _firehose(folder: Path) -> Path:
    import numpy as np

    rng = np.random.default_rng(0)
    n_genes, n_samples = 2000, 500
    path = folder / "expr.tsv"
    with open(path, "w") as fh:
        fh.write("Hybridization REF\t" + "\t".join(f"S{j}" for j in range(n_samples)) + "\n")
        fh.write("gene_id\t" + "\t".join(["normalized_count"] * n_samples) + "\n")
        for i in range(n_genes):
            values = rng.gamma(1.0, 50.0, n_samples)
            fh.write(f"G{i}|{i}\t" + "\t".join(f"{v:.4f}" for v in values) + "\n")
    return path


def worker(args) -> None:
    import warnings

    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import scautogenome as sag

    sag.settings.verbosity = 0
    adata = sag.datasets.synthetic(n_obs=2000, n_vars=500, n_classes=5, seed=0)
    X, y = np.log1p(adata.X.toarray()), adata.obs["label"].to_numpy()

    def fit():
        arch = {"kind": "mlp", "units": [64]}
        return sag.models.Classifier(arch, {"max_epochs": 3}).fit(adata, "label", seed=0)

    query = sag.datasets.synthetic(n_obs=20000, n_vars=500, n_classes=5, seed=1)
    X_query = np.log1p(query.X.toarray())
    model = fit()
    predict = _best(lambda: model.predict(query), args.tries)
    peer_model = LogisticRegression(max_iter=200).fit(X, y)
    peer_predict = _best(lambda: peer_model.predict(X_query), args.tries)

    import torch

    wide = sag.models.Classifier({"kind": "mlp", "units": [1024, 512]}, {"max_epochs": 1})
    wide.fit(adata, "label", seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        wide.save(Path(tmp) / "wide")
        load = _best(lambda: sag.models.Classifier.load(Path(tmp) / "wide"), args.tries)
        peer_load = _best(
            lambda: torch.load(Path(tmp) / "wide" / "model.pt", weights_only=True), args.tries
        )
        config = _files(Path(tmp))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            labels = _best(lambda: sag.io.read_autogenome(config), args.tries)
        peer_read = _best(
            lambda: (pd.read_csv(Path(tmp) / "x.csv"), pd.read_csv(Path(tmp) / "y.txt", sep="\t")),
            args.tries,
        )
        expr = _firehose(Path(tmp))
        table = _best(lambda: sag.io.read_table(expr, orientation="genes_x_samples"), args.tries)
        peer_table = _best(
            lambda: pd.read_csv(expr, sep="\t", skiprows=[1], index_col=0), args.tries
        )
    from scipy import sparse
    from sklearn.metrics import davies_bouldin_score, silhouette_score

    from scautogenome.data._checks import value_stats

    codes = adata.obs["label"].cat.codes.to_numpy()
    basis = np.random.default_rng(0).normal(size=(2000, 10)) + codes[:, None]  # float64
    adata.obsm["X_b"] = basis
    scores = _best(
        lambda: sag.tl.embedding_scores(adata, "X_b", "label", tsne=False, key_added="b"),
        args.tries,
    )
    peer_scores = _best(
        lambda: (silhouette_score(basis, y), davies_bouldin_score(basis, y)), args.tries
    )
    counts = sparse.csr_matrix(adata.X, dtype=np.int32)
    # each stored value in two parts (its halves), both kept: a CSR that is not canonical
    row_of = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    order = np.argsort(np.concatenate([row_of, row_of]), kind="stable")
    data = np.concatenate([counts.data // 2, counts.data - counts.data // 2])[order]
    indices = np.concatenate([counts.indices, counts.indices])[order]
    dupes_m = sparse.csr_matrix((data, indices, 2 * counts.indptr), shape=counts.shape)
    dupes_m.has_canonical_format = False
    dupes = _best(lambda: value_stats(dupes_m), args.tries)
    peer_dupes = _best(lambda: dupes_m.copy().sum_duplicates(), args.tries)
    row = {
        "sag_file": sag.__file__,
        "fit_s": round(_best(fit, args.tries), 4),
        "peer_fit_s": round(
            _best(lambda: LogisticRegression(max_iter=200).fit(X, y), args.tries), 4
        ),
        "labels_s": round(labels, 4),
        "peer_read_s": round(peer_read, 4),
        "table_s": round(table, 4),
        "peer_table_s": round(peer_table, 4),
        "scores_s": round(scores, 4),
        "peer_scores_s": round(peer_scores, 4),
        "dupes_s": round(dupes, 4),
        "peer_dupes_s": round(peer_dupes, 4),
        "predict_s": round(predict, 4),
        "peer_predict_s": round(peer_predict, 4),
        "load_s": round(load, 4),
        "peer_load_s": round(peer_load, 4),
    }
    print("RESULT " + json.dumps(row), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tries", type=int, default=3)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default=str(HERE / "change_costs.jsonl"))
    args = compare_args(p, worker)
    if args is None:  # a worker's run
        return
    state = head_state(args.base)
    rows = []
    with worktree(state["base"], "sag_costs_base_") as base_dir:
        for rep in range(args.repeat):
            rows += run_both(
                lambda tree: run_worker(__file__, tree, ["--tries", str(args.tries)]),
                base_dir,
                {"repeat": rep, **state},
                lambda v, r: (
                    f"{v:4s} fit {r['fit_s']:.3f} s (/ peer {r['fit_s'] / r['peer_fit_s']:.2f}x)"
                    f"  labels {r['labels_s']:.3f} s (/ peer {r['labels_s'] / r['peer_read_s']:.2f}x)"
                    f"  table {r['table_s']:.3f} s (/ peer {r['table_s'] / r['peer_table_s']:.2f}x)"
                    f"  scores {r['scores_s']:.3f} s (/ peer {r['scores_s'] / r['peer_scores_s']:.2f}x)"
                    f"  dupes {r['dupes_s']:.3f} s (/ peer {r['dupes_s'] / r['peer_dupes_s']:.2f}x)"
                    f"  predict {r['predict_s']:.3f} s"
                    f" (/ peer {r['predict_s'] / r['peer_predict_s']:.2f}x)"
                    f"  load {r['load_s']:.3f} s (/ peer {r['load_s'] / r['peer_load_s']:.2f}x)"
                ),
            )
    append_rows(args.out, rows)
    for key, peer in (
        ("fit_s", "peer_fit_s"),
        ("labels_s", "peer_read_s"),
        ("table_s", "peer_table_s"),
        ("scores_s", "peer_scores_s"),
        ("dupes_s", "peer_dupes_s"),
        ("predict_s", "peer_predict_s"),
        ("load_s", "peer_load_s"),
    ):
        for v in ("base", "new"):
            ratios = [r[key] / r[peer] for r in rows if r["variant"] == v]
            print(
                f"{key} / {peer}, {v}: best {min(ratios):.3f}x, median {sorted(ratios)[len(ratios) // 2]:.3f}x"
            )


if __name__ == "__main__":
    main()
