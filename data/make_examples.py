"""Generate the small, seeded example inputs in ``data/examples/`` (synthetic, TCGA-shaped).

    python data/make_examples.py            # writes data/examples/
    python data/make_examples.py --out DIR  # anywhere else

Nothing here is real patient data: barcodes, values and mutations are drawn from a seeded
generator, with the structure of the real files (Firehose RSEM matrix, GDC clinical table, GDC
MAF, AutoGenome's features/labels/feature-names layout). The tests call :func:`make_examples`
into a temporary directory; the committed files are for users and the README.
"""

from __future__ import annotations

import argparse
import gzip
import json
import uuid
from pathlib import Path

import numpy as np

SEED = 0
COHORTS = ("BRCA", "LUAD", "COAD")
# real tissue-source-site codes of each project, and marker genes that separate them
TSS = {
    "BRCA": ["A1", "A2", "AR", "BH", "E2"],
    "LUAD": ["05", "44", "50", "55", "86"],
    "COAD": ["AA", "A6", "AZ", "CM", "G4"],
}
MARKERS = {
    "BRCA": ["ESR1", "GATA3", "KRT8", "KRT18", "FOXA1", "XBP1", "TFF1", "AGR2", "ERBB2", "PGR"],
    "LUAD": [
        "NKX2-1",
        "SFTPC",
        "SFTPB",
        "SFTPA1",
        "NAPSA",
        "SCGB3A2",
        "LPCAT1",
        "AGER",
        "CEACAM6",
        "MUC1",
    ],
    "COAD": [
        "CDX2",
        "CDX1",
        "VIL1",
        "LGALS4",
        "CDH17",
        "SATB2",
        "MUC2",
        "KRT20",
        "CEACAM5",
        "GUCY2C",
    ],
}
# MAF genes: Entrez id, chromosome and an approximate GRCh38 span (positions are drawn inside it)
MAF_GENES = {
    "TP53": (7157, "chr17", 7661779, 7687538),
    "PIK3CA": (5290, "chr3", 179148114, 179240093),
    "KRAS": (3845, "chr12", 25205246, 25250929),
    "APC": (324, "chr5", 112707498, 112846239),
    "EGFR": (1956, "chr7", 55019017, 55211628),
    "BRAF": (673, "chr7", 140719327, 140924929),
    "PTEN": (5728, "chr10", 87863113, 87971930),
    "CDH1": (999, "chr16", 68737225, 68835537),
    "GATA3": (2625, "chr10", 8045378, 8075198),
    "KEAP1": (9817, "chr19", 10486120, 10503622),
    "STK11": (6794, "chr19", 1177558, 1228431),
    "SMAD4": (4089, "chr18", 51030213, 51085042),
    "MAP3K1": (4214, "chr5", 56815574, 56896152),
    "FBXW7": (55294, "chr4", 152320544, 152536873),
    "NRAS": (4893, "chr1", 114704469, 114716771),
    "ARID1A": (8289, "chr1", 26693236, 26782104),
    "TTN": (7273, "chr2", 178525989, 178830802),
    "MUC16": (94025, "chr19", 8848844, 8981342),
}
DRIVERS = {
    "BRCA": {"PIK3CA": 0.35, "TP53": 0.30, "GATA3": 0.12, "CDH1": 0.12, "MAP3K1": 0.08},
    "LUAD": {"TP53": 0.45, "KRAS": 0.30, "KEAP1": 0.17, "STK11": 0.15, "EGFR": 0.14},
    "COAD": {"APC": 0.70, "TP53": 0.55, "KRAS": 0.42, "SMAD4": 0.12, "FBXW7": 0.11, "BRAF": 0.10},
}
PASSENGERS = {"TTN": 0.5, "MUC16": 0.3, "ARID1A": 0.08, "PTEN": 0.05, "NRAS": 0.03}
DRIVER_CLASSES = {
    "Missense_Mutation": 0.72,
    "Nonsense_Mutation": 0.1,
    "Frame_Shift_Del": 0.07,
    "Frame_Shift_Ins": 0.04,
    "Splice_Site": 0.04,
    "In_Frame_Del": 0.03,
}
PASSENGER_CLASSES = {
    "Silent": 0.35,
    "Missense_Mutation": 0.35,
    "Intron": 0.12,
    "3'UTR": 0.1,
    "5'Flank": 0.05,
    "Splice_Region": 0.03,
}
# background genes (real symbols) with no cohort signal
BACKGROUND = """
ABHD17A ABI3 ACAA2 ACOX1 ADD3 ADRM1 ADTRP AGTRAP AIF1 ALKBH7 AMICA1 ANKRD12 ANXA1 ANXA5
AP2S1 APEX1 APMAP ARID4B ARL6IP5 ASCC2 ATP5I ATP5O ATP6V1E1 ATPIF1 BAD BBX BFAR BIN3 BLOC1S4
BRI3 BST2 BZW1 C1QB CALM3 CAMK4 CAPG CAPN2 CAT CCDC107 CCDC115 CCDC167 CCL4 CCNI CCR7 CCT6A
CD160 CD2 CD27 CD300A CD37 CD3E CD4 CD40LG CD52 CD63 CD74 CD79B CD8A CDK6 CFD CHCHD10 CHD4
CLEC10A CLIC3 CNN2 CNPY3 COA3 COMMD3 COMT CORO1B COX14 COX17 COX7B CPA5 CREG1 CSK CST7 CTSC
CTSH CTSW CWC15 CXCR4 CYTL1 DAP3 DCAF10 DDAH2 DDX5 DENND2D DHRS4L2 DNAJB1 DNAJC7 DTD1
DYNLRB1 EAF2 EBPL EGFL7 EID1 EIF2AK1 EIF3D EIF3G EIF3L EIF4A2 ELOVL5 EMC7 ERH ERP29 ETFA
EXOG FAM175B FAM65B FCER1G FCN1 FDX1 FGFR1OP2 FKBP11 FLT3LG FPR1 FUOM FYB GABARAPL2 GATA2
GCHFR GIMAP7 GLRX GNG7 GOLGA7 GPR171 GPX4 GSTP1 GTF3C6 GZMA GZMH GZMM H2AFJ HAX1 HES1 HHEX
HIGD2A HIST1H4C HMGB2 HMOX1 HNRNPA1 HNRNPF HNRNPR HP1BP3 HSD17B11 HSP90AB1 HSPD1 ICAM3 ID2
IDH3B IFITM1 IFITM3 IGBP1 IGJ IGLL5 IL18 IL2RB IL32 ILF3 IMP3 IRF1 IRF8 ISG20 ITGB2 JAK1
JUNB KIAA0125 KLF6 KLRC1 KLRG1 LAMTOR1 LAT LBH LDHA LEPROTL1 LGALS3 LMAN2 LRRC25 LSM5 LST1
LY6E LY9 LYL1 LYZ MAD2L2 MAL MARCKSL1 MCM7 MEAF6 MFSD1 MIEN1 MLF2 MPHOSPH9 MRFAP1 MRPL21
MRPL48 MRPS21 MRPS33 MS4A1 MYO5A MZT2B NAP1L1 NCF1 NCOR1 NDNL2 NDUFA11 NDUFA4 NDUFAB1
NDUFB10 NDUFB2 NDUFS5 NEAT1 NEDD8 NFE2 NGFRAP1 NHP2 NINJ2 NME4 NOP56 NPM1 NSA2 NSUN6 NUCB2
NUDCD2 OAS1 OGG1 OST4 OTUB1 PAFAH1B3 PAXBP1 PCNA PDAP1 PGAM1 PHPT1 PILRA PLAC8 PLGRKT PMVK
PNN POLD4 POLR2I POMP POU2AF1 PPAPDC1B PPIA PPIG PPP1CC PPP2R5C PRAM1 PRDX2 PRF1 PRR4
""".split()  # noqa: SIM905
MAF_COLUMNS = [
    "Hugo_Symbol",
    "Entrez_Gene_Id",
    "Center",
    "NCBI_Build",
    "Chromosome",
    "Start_Position",
    "End_Position",
    "Strand",
    "Variant_Classification",
    "Variant_Type",
    "Reference_Allele",
    "Tumor_Seq_Allele1",
    "Tumor_Seq_Allele2",
    "dbSNP_RS",
    "Tumor_Sample_Barcode",
    "Matched_Norm_Sample_Barcode",
]
_ALNUM = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
_BASES = np.array(list("ACGT"))


def genes() -> list[str]:
    """Marker genes, MAF genes, then background genes: 300 unique symbols."""
    out = [g for c in COHORTS for g in MARKERS[c]] + list(MAF_GENES) + BACKGROUND
    return list(dict.fromkeys(out))[:300]


def _code(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(_ALNUM, n))


def _design(rng: np.random.Generator, n_per_cohort: int, n_normal: int) -> list[dict]:
    """One dict per expression sample: cohort, patient, sample barcode, tumour or normal."""
    rows, used = [], set()
    for cohort in COHORTS:
        plate = _code(rng, 4)
        patients = []
        while len(patients) < n_per_cohort - n_normal:
            pid = f"TCGA-{rng.choice(TSS[cohort])}-{_code(rng, 4)}"
            if pid not in used:
                used.add(pid)
                patients.append(pid)
        for pid in patients:
            rows.append({"cohort": cohort, "patient": pid, "code": "01", "plate": plate})
        for pid in patients[:n_normal]:  # matched normals
            rows.append({"cohort": cohort, "patient": pid, "code": "11", "plate": plate})
    for r in rows:
        r["barcode"] = f"{r['patient']}-{r['code']}A-{rng.integers(11, 14)}R-{r['plate']}-07"
    return rows


def _expression(rng: np.random.Generator, rows: list[dict], gene_list: list[str]) -> np.ndarray:
    """RSEM-normalized-count-like values, genes x samples."""
    n_genes = len(gene_list)
    mu = rng.normal(7.0, 2.0, n_genes)  # log2 scale
    low = rng.random(n_genes) < 0.15
    mu[low] = rng.normal(0.0, 1.0, low.sum())
    cohort_effect = {c: rng.normal(0.0, 0.5, n_genes) for c in COHORTS}
    normal_effect = rng.normal(0.0, 0.8, n_genes)
    idx = {g: i for i, g in enumerate(gene_list)}
    for c in COHORTS:
        for g in MARKERS[c]:
            cohort_effect[c][idx[g]] += 4.0
    X = np.empty((n_genes, len(rows)))
    for j, r in enumerate(rows):
        m = mu + cohort_effect[r["cohort"]] + rng.normal(0.0, 0.5, n_genes)
        if r["code"] == "11":
            m = m + normal_effect
            for g in MARKERS[r["cohort"]]:
                m[idx[g]] -= 2.0
        lam = np.exp2(m)
        value = rng.gamma(4.0, lam / 4.0)
        value[rng.random(n_genes) < np.exp(-lam)] = 0.0  # dropouts where expression is low
        X[:, j] = value
    return np.round(X, 2)


def _write_gzip(path: Path, lines: list[str]) -> None:
    """Gzip with a fixed timestamp and no file name, so the same seed gives the same bytes."""
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))


def _write_expression(path: Path, rows: list[dict], X: np.ndarray, gene_list: list[str]) -> None:
    """Firehose layout: 'Hybridization REF' header, 'gene_id normalized_count' second line."""
    lines = [
        "\t".join(["Hybridization REF", *(r["barcode"] for r in rows)]),
        "\t".join(["gene_id", *(["normalized_count"] * len(rows))]),
    ]
    for g, values in zip(gene_list, X, strict=True):
        lines.append(g + "\t" + "\t".join(f"{v:g}" for v in values))
    _write_gzip(path, lines)


def _write_clinical(path: Path, rng: np.random.Generator, rows: list[dict]) -> list[str]:
    """GDC clinical.tsv style, one row per patient, plus patients without expression."""
    patients = {r["patient"]: r["cohort"] for r in rows}
    for cohort in COHORTS:  # the clinical table covers more patients than the expression file
        for _ in range(2):
            patients[f"TCGA-{rng.choice(TSS[cohort])}-{_code(rng, 4)}"] = cohort
    header = [
        "case_id",
        "case_submitter_id",
        "project_id",
        "gender",
        "age_at_index",
        "vital_status",
        "days_to_death",
        "ajcc_pathologic_stage",
    ]
    stages = ["Stage I", "Stage IIA", "Stage IIB", "Stage IIIA", "Stage IV", "'--"]
    lines = ["\t".join(header)]
    for pid, cohort in patients.items():
        dead = rng.random() < 0.25
        gender = "female" if cohort == "BRCA" or rng.random() < 0.5 else "male"
        lines.append(
            "\t".join(
                [
                    str(uuid.UUID(bytes=rng.bytes(16), version=4)),
                    pid,
                    f"TCGA-{cohort}",
                    gender,
                    str(int(rng.integers(30, 86))),
                    "Dead" if dead else "Alive",
                    str(int(rng.integers(100, 3000))) if dead else "'--",
                    str(rng.choice(stages)),
                ]
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return list(patients)


def _maf_row(
    rng: np.random.Generator, gene: str, vclass: str, tumor: str, normal: str
) -> list[str]:
    entrez, chrom, lo, hi = MAF_GENES.get(gene, (0, "chr1", 1_000_000, 200_000_000))
    start = int(rng.integers(lo, hi))
    if vclass in ("Frame_Shift_Del", "In_Frame_Del"):
        n = 3 if vclass == "In_Frame_Del" else int(rng.choice([1, 2, 4]))
        ref, alt, vtype, end = "".join(rng.choice(_BASES, n)), "-", "DEL", start + n - 1
    elif vclass == "Frame_Shift_Ins":
        ref, alt, vtype, end = (
            "-",
            "".join(rng.choice(_BASES, int(rng.choice([1, 2])))),
            "INS",
            start + 1,
        )
    else:
        ref = str(rng.choice(_BASES))
        alt = str(rng.choice([b for b in _BASES if b != ref]))
        vtype, end = "SNP", start
    dbsnp = f"rs{int(rng.integers(1e6, 1e9))}" if rng.random() < 0.1 else "novel"
    return [
        gene,
        str(entrez),
        "WUGSC",
        "GRCh38",
        chrom,
        str(start),
        str(end),
        "+",
        vclass,
        vtype,
        ref,
        ref,
        alt,
        dbsnp,
        tumor,
        normal,
    ]


def _write_maf(path: Path, rng: np.random.Generator, rows: list[dict]) -> None:
    """GDC-style somatic MAF (``#version`` line, tab-separated, gzipped), tumour samples only.

    Two tumours per cohort have no mutation at all (absent from the file), one patient per
    cohort is in the MAF but not in the expression file, and passengers include Silent, Intron,
    UTR and intergenic (``Unknown``) variants.
    """
    tumours = [r for r in rows if r["code"] == "01"]
    extra = [
        {"cohort": c, "patient": f"TCGA-{rng.choice(TSS[c])}-{_code(rng, 4)}", "code": "01"}
        for c in COHORTS
    ]
    records = []
    silent_cohorts = set()
    for k, r in enumerate(tumours + extra):
        cohort = r["cohort"]
        if k < len(tumours) and sum(1 for t in tumours[:k] if t["cohort"] == cohort) < 2:
            continue  # the first two tumours of each cohort: no mutation called
        plate = _code(rng, 4)
        tumor = f"{r['patient']}-01A-11D-{plate}-09"
        normal = f"{r['patient']}-10A-01D-{plate}-09"
        muts = []
        if cohort not in silent_cohorts:  # one sample per cohort has only silent variants
            silent_cohorts.add(cohort)
            muts.append(("TTN", "Silent"))
        else:
            for gene, p in DRIVERS[cohort].items():
                if rng.random() < p:
                    cls = list(DRIVER_CLASSES)
                    muts.append((gene, str(rng.choice(cls, p=list(DRIVER_CLASSES.values())))))
            for gene, p in PASSENGERS.items():
                if rng.random() < p:
                    cls = list(PASSENGER_CLASSES)
                    muts.append((gene, str(rng.choice(cls, p=list(PASSENGER_CLASSES.values())))))
            if rng.random() < 0.3:
                muts.append(("Unknown", "IGR"))
        for gene, vclass in muts:
            records.append(_maf_row(rng, gene, vclass, tumor, normal))
    lines = ["#version gdc-1.0.0", "#annotation.spec gdc-1.0.1-public", "\t".join(MAF_COLUMNS)]
    _write_gzip(path, lines + ["\t".join(rec) for rec in records])


def _write_autogenome(
    outdir: Path, rng: np.random.Generator, rows: list[dict], X: np.ndarray, gene_list: list[str]
) -> Path:
    """AutoGenome's input layout: features (samples x features, no header), labels, names, JSON."""
    outdir.mkdir(parents=True, exist_ok=True)
    chosen = [g for c in COHORTS for g in MARKERS[c]] + gene_list[30:50]
    cols = [gene_list.index(g) for g in chosen]
    feats = np.log2(X[cols].T + 1.0)  # samples x features, log2(x + 1)
    labels = np.array([r["cohort"] for r in rows])
    order = rng.permutation(len(rows))
    n_test = len(rows) // 5
    split = {"test": order[:n_test], "train": order[n_test:]}
    for name, idx in split.items():
        np.savetxt(outdir / f"{name}_features.csv", feats[np.sort(idx)], fmt="%.3f", delimiter=",")
        (outdir / f"{name}_labels.txt").write_text("\n".join(labels[np.sort(idx)]) + "\n")
    (outdir / "feature_names.txt").write_text("\n".join(chosen) + "\n")
    config = {
        "name": "tcga_example",
        "data_loader": {
            "train_data_path": "train_features.csv",
            "train_label_path": "train_labels.txt",
            "test_data_path": "test_features.csv",
            "test_label_path": "test_labels.txt",
            "feature_names_path": "feature_names.txt",
            "delimiter": ",",
            "num_threads": 4,
            "capacity": 1000,
        },
        "model_trainer": {
            "batch_size": 32,
            "num_gpus": 1,
            "learning_rate_range": [0.0001, 0.01],
            "epochs": 50,
        },
        "loss": "cross_entropy",
        "search_mode": "FC-ResNet",
        "search_space": {"num_blocks": [1, 2, 3], "num_neurons": [16, 32, 64]},
        "model_save_path": "runs/tcga_example",
    }
    path = outdir / "config.json"
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def make_examples(
    outdir: str | Path,
    *,
    seed: int = SEED,
    n_per_cohort: int = 20,
    n_normal: int = 3,
    split_cohorts: bool = False,
) -> dict[str, Path]:
    """Write the example inputs into ``outdir`` and return their paths by name.

    Parameters
    ----------
    outdir
        Directory to write into (created).
    seed
        The same seed writes the same files, byte for byte.
    n_per_cohort, n_normal
        Expression samples per cohort, of which ``n_normal`` are matched Solid Tissue Normals.
    split_cohorts
        Also write one expression file per cohort (``BRCA.rnaseqv2_genes_normalized.tsv.gz``,
        Firehose naming) for :func:`sag.io.read_tcga` over several files; names
        ``expression_BRCA``, ...

    Returns
    -------
    ``{"expression": ..., "clinical": ..., "maf": ..., "autogenome_config": ...}`` (+ per-cohort
    expression files).
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    gene_list = genes()
    rows = _design(rng, n_per_cohort, n_normal)
    X = _expression(rng, rows, gene_list)
    paths = {
        "expression": outdir / "tcga_expression.tsv.gz",
        "clinical": outdir / "tcga_clinical.tsv",
        "maf": outdir / "tcga_mutations.maf.gz",
    }
    _write_expression(paths["expression"], rows, X, gene_list)
    _write_clinical(paths["clinical"], rng, rows)
    _write_maf(paths["maf"], rng, rows)
    paths["autogenome_config"] = _write_autogenome(outdir / "autogenome", rng, rows, X, gene_list)
    if split_cohorts:
        for cohort in COHORTS:
            cols = [j for j, r in enumerate(rows) if r["cohort"] == cohort]
            path = outdir / f"{cohort}.rnaseqv2_genes_normalized.tsv.gz"
            _write_expression(path, [rows[j] for j in cols], X[:, cols], gene_list)
            paths[f"expression_{cohort}"] = path
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "examples")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    for name, path in make_examples(args.out, seed=args.seed).items():
        print(f"{name}: {path} ({path.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
