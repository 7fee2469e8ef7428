"""The environment and terminal the command line and the API run in: shared servers, HPC
nodes and CI runners. Stdout a pipe closed early or a file, a terminal that is not UTF-8
(labels, gene names and paths that are not ASCII), HOME and the caches of matplotlib and
numba unwritable, TMPDIR missing, a read-only working folder, umask, no network, SIGTERM of a
job's time limit, and a job's CPU allotment."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import anndata as ad
import pytest

import scautogenome as sag
from scautogenome.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]

# labels and a gene that are not ASCII, as a reference's cell types and symbols are
LABELS = ["CD4⁺ T", "Müller glia", "IFN-γ⁺ NK"]
GENE = "IL2Rα"

# a sitecustomize that refuses (and records) every attempt to reach the network
NO_NETWORK = """
import os, socket, traceback

def _deny(what):
    def refuse(*args, **kwargs):
        with open(os.environ["SAG_TEST_NETWORK_LOG"], "a") as fh:
            fh.write(what + "\\n" + "".join(traceback.format_stack(limit=12)) + "\\n")
        raise OSError(101, "network disabled by the test (" + what + ")")
    return refuse

socket.socket.connect = _deny("connect")
socket.socket.connect_ex = _deny("connect_ex")
socket.getaddrinfo = _deny("getaddrinfo")
socket.create_connection = _deny("create_connection")
"""

# a sitecustomize that makes ``import scanpy`` fail as it does where numba cannot write its
# cache (a read-only site-packages of a container or a shared environment, with HOME's
# cache unwritable): numba raises at the import of scanpy's cached functions
NUMBA_CANNOT_CACHE = """
import sys

class _NoCache:
    def find_spec(self, name, path=None, target=None):
        if name == "scanpy" or name.startswith("scanpy."):
            raise RuntimeError(
                "cannot cache function '_is_constant_csr_rows': no locator available for "
                "file '/opt/env/lib/python3/site-packages/scanpy/_utils/compute/is_constant.py'"
            )
        return None

sys.meta_path.insert(0, _NoCache())
"""


def _env(tmp_path: Path, *, site: str | None = None, **changes: str | None) -> dict:
    """The environment of a subprocess running this checkout's package on one thread, with
    ``changes`` (None: the variable unset) and, with ``site``, that sitecustomize first."""
    env = dict(os.environ)
    paths = [str(ROOT)]
    if site is not None:
        folder = tmp_path / "site"
        folder.mkdir(exist_ok=True)
        (folder / "sitecustomize.py").write_text(site)
        paths.insert(0, str(folder))
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _bare_job_env(tmp_path: Path, log: Path, **changes: str | None) -> dict:
    """:func:`_env` of a bare batch job: no network (each try logged to ``log``), HOME unset,
    the caches of matplotlib, numba and XDG below a regular file (they cannot be made),
    NO_COLOR and TERM=dumb; ``changes`` on top."""
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    return _env(
        tmp_path,
        site=NO_NETWORK,
        SAG_TEST_NETWORK_LOG=str(log),
        HOME=None,
        MPLCONFIGDIR=str(blocker / "mpl"),
        NUMBA_CACHE_DIR=str(blocker / "numba"),
        XDG_CACHE_HOME=str(blocker / "cache"),
        NO_COLOR="1",
        TERM="dumb",
        **changes,
    )


def _sag(argv, env, cwd=None, prefix=(), **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "scautogenome", *map(str, argv)],
        env=env,
        cwd=cwd,
        capture_output=True,
        timeout=kwargs.pop("timeout", 180),
        **kwargs,
    )


def _no_write_prefix(folder: Path) -> list[str]:
    """A command prefix under which ``folder`` (made read-only here) cannot be written: none
    for a user; for root, setpriv without the capabilities that override file permissions.
    The test is skipped where neither works."""
    folder.chmod(0o555)
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root without setpriv: a read-only folder cannot be made")
    prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]
    probe = subprocess.run([*prefix, "touch", str(folder / "probe")], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("the folder stays writable")
    return prefix


def _non_ascii_data():
    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    adata.obs["label"] = adata.obs["label"].cat.rename_categories(LABELS)
    adata.var_names = [GENE, *adata.var_names[1:]]
    return adata


def _config(folder: Path) -> Path:
    from conftest import TINY_CONFIG

    path = folder / "cfg.json"
    path.write_text(json.dumps(TINY_CONFIG))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A classify run of labels that are not ASCII, read from a folder whose name has an 'é'
    and spaces: ``(input h5ad, run folder, config)``."""
    folder = tmp_path_factory.mktemp("env") / "in é dir"
    folder.mkdir()
    h5ad = folder / "cells é.h5ad"
    _non_ascii_data().write_h5ad(h5ad)
    config = _config(folder)
    out = folder / "run é"
    argv = ["classify", h5ad, "--labels", "label", "--out", out, "--config", config]
    assert main([*map(str, argv), "--no-explain", "--no-report", "--quiet", "--device", "cpu"]) == 0
    return h5ad, out, config


def _with_stdout(monkeypatch, encoding: str) -> io.TextIOWrapper:
    """sys.stdout a stream of ``encoding`` with Python's default (strict) errors, as a
    redirected stdout is where the locale's encoding is that one (PYTHONIOENCODING=ascii, a
    Latin-1 locale, Windows' cp1252 into a file)."""
    stream = io.TextIOWrapper(io.BytesIO(), encoding=encoding)
    monkeypatch.setattr(sys, "stdout", stream)
    return stream


def _printed(stream: io.TextIOWrapper) -> str:
    stream.flush()
    return stream.buffer.getvalue().decode(stream.encoding, "replace")


# -- stdout: a file, a pipe, another encoding --------------------------------------------------
def test_tables_of_non_ascii_labels_print_into_a_utf8_file(run, tmp_path, monkeypatch, capsys):
    """predict's table of classes into a UTF-8 stdout (a log file): the labels as they are."""
    h5ad, out, _ = run
    stream = _with_stdout(monkeypatch, "utf-8")
    pred = tmp_path / "pred é.h5ad"
    assert main(["predict", str(h5ad), "--model", str(out), "--out", str(pred), "--quiet"]) == 0
    printed = _printed(stream)
    assert all(label in printed for label in LABELS)
    assert f"wrote {pred}" in printed
    assert set(ad.read_h5ad(pred).obs["sag_pred"].cat.categories) <= set(LABELS)


def test_tables_of_non_ascii_labels_on_an_ascii_stdout(run, tmp_path, monkeypatch, capsys):
    h5ad, out, _ = run
    stream = _with_stdout(monkeypatch, "ascii")
    pred = tmp_path / "pred.h5ad"
    rc = main(["predict", str(h5ad), "--model", str(out), "--out", str(pred), "--quiet"])
    err = capsys.readouterr().err
    assert pred.is_file()  # written before the table is printed (true today)
    assert rc == 0, err
    assert "codec" not in err
    printed = _printed(stream)
    assert "predicted classes" in printed
    assert f"wrote {pred}" in printed


def test_classify_on_an_ascii_stdout_ends_as_it_finished(tmp_path, monkeypatch, capsys):
    h5ad = tmp_path / "in.h5ad"
    _non_ascii_data().write_h5ad(h5ad)
    out = tmp_path / "run"
    stream = _with_stdout(monkeypatch, "ascii")
    argv = ["classify", h5ad, "--labels", "label", "--out", out, "--config", _config(tmp_path)]
    rc = main([*map(str, argv), "--no-explain", "--quiet", "--device", "cpu"])
    err = capsys.readouterr().err
    # every file is written (true today)
    assert {"model", "annotated.h5ad", "metrics.json", "report.html"} <= set(os.listdir(out))
    assert rc == 0, err
    assert "what is missing" not in err
    assert "test accuracy" in _printed(stream)


class _FullStream(io.TextIOBase):
    """A stdout on a full disk (a job's log in a home over its quota, ``> /dev/full``)."""

    def write(self, text):
        raise OSError(28, "No space left on device")


def test_a_full_stdout_is_named_and_the_written_out_too(run, tmp_path, monkeypatch, capsys):
    h5ad, out, _ = run
    monkeypatch.setattr(sys, "stdout", _FullStream())
    pred = tmp_path / "pred.h5ad"
    rc = main(["predict", str(h5ad), "--model", str(out), "--out", str(pred), "--quiet"])
    err = capsys.readouterr().err
    assert pred.is_file()  # written before the table is printed (true today)
    assert rc != 0
    assert "stdout" in err, err
    assert str(pred) in err, err


def test_stdout_closed_early_on_help_and_version_is_quiet(tmp_path):
    """``scautogenome --help | head -1``: the reader gone before anything is printed is no
    traceback and no error."""
    env = _env(tmp_path)
    for argv in (["--help"], ["classify", "--help"], ["--version"]):
        read, write = os.pipe()
        os.close(read)  # the reader left
        try:
            p = subprocess.run(
                [sys.executable, "-m", "scautogenome", *argv],
                env=env,
                stdout=write,
                stderr=subprocess.PIPE,
                text=True,
                timeout=60,
            )
        finally:
            os.close(write)
        assert p.returncode in (0, 141), (argv, p.stderr)
        assert "Traceback" not in p.stderr, argv
        assert "Exception ignored" not in p.stderr, argv


def test_errors_naming_non_ascii_paths_on_an_ascii_terminal(tmp_path):
    """A missing --model whose name is not ASCII, said on a C-locale terminal whose streams
    are ASCII: one line on stderr (escaped), exit 2, no UnicodeEncodeError."""
    env = _env(tmp_path, LANG="C", LC_ALL="C", PYTHONIOENCODING="ascii")
    h5ad = tmp_path / "cells é.h5ad"
    h5ad.write_bytes(b"")
    argv = ["predict", h5ad, "--model", tmp_path / "modèle", "--out", tmp_path / "p é.h5ad"]
    p = _sag(argv, env, text=True, errors="replace")
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("scautogenome predict: error: --model"), p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert "Traceback" not in p.stderr
    assert "UnicodeEncodeError" not in p.stderr


def test_an_out_folder_whose_name_is_not_utf8(tmp_path, monkeypatch):
    # stderr as Python makes it (backslashreplace), where the error naming the path is said
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    monkeypatch.setattr(sys, "stderr", stderr)
    h5ad = tmp_path / "in.h5ad"
    sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0).write_h5ad(h5ad)
    out = Path(os.fsdecode(bytes(tmp_path) + b"/run\xe9"))  # as argv gives b'run\xe9'
    argv = ["classify", h5ad, "--labels", "label", "--out", out, "--config", _config(tmp_path)]
    rc = main([*map(str, argv), "--no-explain", "--no-report", "--quiet", "--device", "cpu"])
    err = _printed(stderr)
    # either the run is written whole, or the name is refused before any work
    if rc == 0:
        assert (out / "annotated.h5ad").is_file()
    else:
        assert rc == 2
        assert not out.exists(), err
        assert "codec" not in err, err


def test_an_out_folder_whose_name_is_not_utf8_is_recorded_escaped(tmp_path):
    """The model folder's record (uns['sag']['model_dir']) of such a name is its bytes
    escaped, as ``ls`` shows them, so that the AnnData can be written; the folder is named
    as given."""
    h5ad = tmp_path / "in.h5ad"
    sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0).write_h5ad(h5ad)
    out = Path(os.fsdecode(bytes(tmp_path) + b"/run\xe9"))
    argv = ["classify", h5ad, "--labels", "label", "--out", out, "--config", _config(tmp_path)]
    rc = main([*map(str, argv), "--no-explain", "--no-report", "--quiet", "--device", "cpu"])
    assert rc == 0
    assert os.path.isdir(bytes(tmp_path) + b"/run\xe9/model")  # the name as given
    recorded = ad.read_h5ad(out / "annotated.h5ad").uns["sag"]["model_dir"]
    assert recorded.endswith("run\\xe9/model"), recorded


def test_storages_and_read_tables_of_non_utf8_names_are_recorded_escaped(tmp_path):
    from scautogenome.search._study import storage_recorded

    name = os.fsdecode(b"s\xe9")
    for storage in (f"sqlite:///{tmp_path}/{name}.db", f"{tmp_path}/{name}.log"):
        recorded = storage_recorded(storage)
        recorded.encode("utf-8")  # what h5ad and JSON hold
        assert "s\\xe9" in recorded, recorded
    table = Path(os.fsdecode(bytes(tmp_path) + b"/t\xe9.tsv"))
    table.write_text("gene\tc1\tc2\nTP53\t1\t2\nKRAS\t3\t4\n")
    adata = sag.io.read_table(table)
    adata.write_h5ad(tmp_path / "t.h5ad")  # its record of the path can be written
    assert ad.read_h5ad(tmp_path / "t.h5ad").uns["sag_io"]["path"].endswith("t\\xe9.tsv")


# HDF5's message where the file system refuses its file locks (NFS, Lustre mounts without
# locking), as h5py raises it
NO_LOCKS = (
    "Unable to synchronously {} file (unable to lock file, errno = 37, error message = 'No "
    "locks available')"
)


def test_an_input_where_hdf5_cannot_lock_names_the_remedy(run, tmp_path, monkeypatch, capsys):
    h5ad, out, _ = run

    def no_locks(*args, **kwargs):
        raise OSError(37, NO_LOCKS.format("open"))

    monkeypatch.setattr(ad, "read_h5ad", no_locks)
    argv = ["predict", h5ad, "--model", out, "--out", tmp_path / "pred.h5ad", "--quiet"]
    assert main(list(map(str, argv))) == 2
    err = capsys.readouterr().err
    assert "unable to lock file" in err  # said in one line, before any work (true today)
    assert "HDF5_USE_FILE_LOCKING" in err


def test_an_out_where_hdf5_cannot_lock_names_the_remedy(run, tmp_path, monkeypatch, capsys):
    h5ad, out, _ = run

    def no_locks(self, filename, *args, **kwargs):
        raise OSError(37, NO_LOCKS.format("create"))

    monkeypatch.setattr(ad.AnnData, "write_h5ad", no_locks)
    pred = tmp_path / "pred.h5ad"
    argv = ["predict", h5ad, "--model", out, "--out", pred, "--quiet"]
    assert main(list(map(str, argv))) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"scautogenome predict: error: cannot write {str(pred)!r}")
    assert not pred.exists()
    assert "HDF5_USE_FILE_LOCKING" in err


# -- HOME, caches, TMPDIR, working folder, umask, network --------------------------------------
def test_predict_in_a_bare_job_environment(run, tmp_path):
    """predict where HOME is unset, the caches of matplotlib, numba and XDG cannot be made
    (below a regular file), TMPDIR is missing, the locale is C, NO_COLOR and TERM=dumb are
    set, umask is 077, stdout and stderr are files and no socket may connect: it runs, writes
    --out private to the user, and tries no network."""
    h5ad, out, _ = run
    log = tmp_path / "network.log"
    env = _bare_job_env(
        tmp_path,
        log,
        XDG_CONFIG_HOME=str(tmp_path / "a_file" / "config"),
        TMPDIR=str(tmp_path / "missing" / "tmp"),
        LANG="C",
        LC_ALL="C",
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
    )
    pred = tmp_path / "pred.h5ad"
    with open(tmp_path / "out.log", "wb") as stdout, open(tmp_path / "err.log", "wb") as stderr:
        p = subprocess.run(
            [sys.executable, "-m", "scautogenome", "predict", h5ad, "--model", out, "--out", pred],
            env=env,
            stdout=stdout,
            stderr=stderr,
            preexec_fn=lambda: os.umask(0o077),
            timeout=180,
        )
    err = (tmp_path / "err.log").read_bytes()
    assert p.returncode == 0, err
    assert not log.exists(), log.read_text()
    assert pred.stat().st_mode & 0o777 == 0o600
    assert b"Traceback" not in err
    assert b"\x1b[" not in err
    assert b"\x1b[" not in (tmp_path / "out.log").read_bytes()
    assert LABELS[1].encode() in (tmp_path / "out.log").read_bytes()  # C locale: UTF-8 mode


def test_model_folders_follow_the_umask_and_load_back(run, tmp_path):
    """A model saved under umask 077 is private to its user (folder 700, files 600), under
    002 shared with the group (775/664), and loads back in either."""
    _, out, _ = run
    model = sag.models.Classifier.load(out / "model")
    before = os.umask(0o022)
    try:
        for umask, folder, file in ((0o077, 0o700, 0o600), (0o002, 0o775, 0o664)):
            os.umask(umask)
            path = tmp_path / f"umask{umask:03o}" / "model"
            model.save(path)
            assert path.stat().st_mode & 0o777 == folder
            assert path.parent.stat().st_mode & 0o777 == folder  # a parent it made
            for name in os.listdir(path):
                assert (path / name).stat().st_mode & 0o777 == file, name
            assert list(sag.models.Classifier.load(path).classes_) == list(model.classes_)
            # saved again over itself: the files keep their mode
            model.save(path, overwrite=True)
            assert {(path / n).stat().st_mode & 0o777 for n in os.listdir(path)} == {file}
    finally:
        os.umask(before)


def test_demo_in_a_read_only_working_folder_fails_before_any_work(tmp_path):
    """``scautogenome demo`` (its --out sag_demo in the working folder) started where the
    job cannot write (a shared read-only folder): one line naming the folder, exit 2, at
    once."""
    folder = tmp_path / "shared"
    folder.mkdir()
    try:
        prefix = _no_write_prefix(folder)
        p = _sag(
            ["demo", "--n-trials", "1", "--no-embed"], _env(tmp_path), folder, prefix, text=True
        )
    finally:
        folder.chmod(0o755)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip() == (
        "scautogenome demo: error: --out 'sag_demo' cannot be written: no write permission on '.'."
    )
    assert os.listdir(folder) == []


def test_n_threads_is_checked_against_the_cpus_the_job_may_use(sag_caplog):
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        pytest.skip("needs 2 CPUs and CPU affinity")
    import torch

    allowed, threads = os.sched_getaffinity(0), torch.get_num_threads()
    os.sched_setaffinity(0, {min(allowed)})  # a job given one CPU of the node's
    try:
        sag.settings.n_threads = 2
    finally:
        os.sched_setaffinity(0, allowed)
        sag.settings._n_threads = None
        torch.set_num_threads(threads)
    assert "compete with each other" in sag_caplog.text


# -- long runs: SIGTERM, a read-only environment, a demo's log ---------------------------------
@pytest.mark.slow
def test_sigterm_mid_search_stops_cleanly_and_says_so(tmp_path):
    """A job's time limit (SIGTERM) while classify searches: exit 143, one line saying so and
    where the finished trials are kept, no --out folder, and the storage resumable."""
    h5ad = tmp_path / "in.h5ad"
    sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0).write_h5ad(h5ad)
    out, db = tmp_path / "run", tmp_path / "search.db"
    argv = ["classify", h5ad, "--labels", "label", "--out", out, "--config", _config(tmp_path)]
    argv += ["--n-trials", "500", "--time-budget", "300", "--storage", f"sqlite:///{db}"]
    p = subprocess.Popen(
        [sys.executable, "-m", "scautogenome", *map(str, argv), "--threads", "1"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in p.stderr:  # the bar's first line: the search runs
        lines.append(line)
        if line.startswith("search:") or "\rsearch:" in line:
            break
    time.sleep(2)  # a few trials in
    p.send_signal(signal.SIGTERM)
    out_text, err = p.communicate(timeout=120)
    err = "".join(lines) + err
    assert p.returncode == 143, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("scautogenome classify: terminated (SIGTERM); the finished trials")
    assert f"--storage sqlite:///{db}" in last
    assert not out.exists()
    assert out_text == ""
    import optuna

    study = optuna.load_study(study_name="sag-classify", storage=f"sqlite:///{db}")
    states = {t.state.name for t in study.trials}
    assert "RUNNING" not in states  # the stopped trial is not left running


@pytest.mark.slow
def test_numba_unable_to_cache_is_named_with_its_remedy(tmp_path):
    h5ad = tmp_path / "in.h5ad"
    sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0).write_h5ad(h5ad)
    out = tmp_path / "run"
    argv = ["classify", h5ad, "--labels", "label", "--out", out, "--config", _config(tmp_path)]
    p = _sag([*argv, "--no-explain", "--threads", "1"], _env(tmp_path, site=NUMBA_CANNOT_CACHE))
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert "NUMBA_CACHE_DIR" in err


DEMO = ["--n-trials", "2", "--no-embed", "--time-budget", "20", "--threads", "1"]


@pytest.mark.slow
def test_demo_log_of_a_batch_job(tmp_path):
    """``scautogenome demo > job.log 2>&1`` as a batch job runs it, HOME unset, the caches of
    matplotlib and numba not writable, TMPDIR missing: no network, a log of a few lines (bars
    redrawn seldom, no escape sequences), files that follow the umask, a report whole
    offline."""
    log = tmp_path / "network.log"
    env = _bare_job_env(tmp_path, log, TMPDIR=str(tmp_path / "missing"))
    with open(tmp_path / "job.log", "wb") as job:
        p = subprocess.run(
            [sys.executable, "-m", "scautogenome", "demo", *DEMO, "--out", tmp_path / "demo"],
            env=env,
            stdout=job,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            preexec_fn=lambda: os.umask(0o027),
            timeout=300,
        )
    text = (tmp_path / "job.log").read_bytes()
    assert p.returncode == 0, text.decode(errors="replace")
    assert not log.exists(), log.read_text()
    assert b"\x1b[" not in text
    assert text.count(b"\r") < 20
    assert len(text.splitlines()) < 80
    assert text.index(b"demo: scanpy's") < text.index(b"search:")  # stdout not held back
    for path in (tmp_path / "demo").rglob("*"):
        assert path.stat().st_mode & 0o027 == 0, path
    html = (tmp_path / "demo" / "report.html").read_text(encoding="utf-8")
    assert 'src="http' not in html  # the report is whole offline


# -- a terminal that closes: SIGHUP ------------------------------------------------------------
def _small_h5ad(tmp_path: Path) -> Path:
    path = tmp_path / "in.h5ad"
    sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=2, seed=0).write_h5ad(path)
    return path


def test_sighup_stops_a_command_as_sigterm_does(tmp_path, capsys, monkeypatch):
    """The terminal of a command run without nohup closes (an ssh session drops): SIGHUP
    stops it as SIGTERM does (the running trial failed, not left running in the storage),
    with exit code 129 and one line saying so; the handler before comes back."""

    def hung_up(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(5)  # the handler raises before this ends

    monkeypatch.setattr(sag.tl, "classify", hung_up)
    before = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        url = f"sqlite:///{tmp_path / 's.db'}"
        argv = ["classify", str(_small_h5ad(tmp_path)), "--labels", "label"]
        assert main([*argv, "--out", str(tmp_path / "o"), "--storage", url]) == 129
        err = capsys.readouterr().err
        assert "scautogenome classify: hung up (SIGHUP); the finished trials are kept" in err
        assert "Traceback" not in err
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGHUP, before)


def test_sighup_ignored_by_nohup_is_left_ignored(tmp_path, capsys, monkeypatch):
    """Under ``nohup`` (SIGHUP ignored) the command keeps its parent's choice: a hangup does
    not stop it."""

    def hung_up(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGHUP)
        sum(range(1000))  # a handler would run here
        raise ValueError("went on after the hangup")

    monkeypatch.setattr(sag.tl, "classify", hung_up)
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        argv = ["classify", str(_small_h5ad(tmp_path)), "--labels", "label"]
        assert main([*argv, "--out", str(tmp_path / "o")]) == 2
        assert "went on after the hangup" in capsys.readouterr().err
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)
