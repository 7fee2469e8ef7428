"""The study fingerprint: the digest of a matrix's values, and studies of earlier releases."""

import numpy as np
import optuna
import pytest
from scipy import sparse

from scautogenome._settings import logger as sag_logger
from scautogenome._utils import matrix_digest
from scautogenome.search._study import FINGERPRINT_ATTR, check_fingerprint


def test_matrix_digest_depends_on_the_values_alone():
    rng = np.random.default_rng(0)
    dense = (rng.random((60, 9)) > 0.6) * rng.poisson(3, (60, 9)).astype(np.float32)
    rows = np.arange(0, 60, 2)
    ref = matrix_digest(dense, rows)
    csr = sparse.csr_matrix(dense)
    unsorted = csr.copy()
    unsorted.indices = unsorted.indices.copy()
    for r in range(unsorted.shape[0]):  # reverse the stored order of each row's entries
        a, b = unsorted.indptr[r], unsorted.indptr[r + 1]
        unsorted.indices[a:b] = unsorted.indices[a:b][::-1]
        unsorted.data[a:b] = unsorted.data[a:b][::-1]
    unsorted.has_sorted_indices = False
    explicit = csr.copy()
    explicit.data[0] = 0.0  # an explicit zero is no value
    for same in (csr, unsorted, dense.astype(np.float64)):
        assert matrix_digest(same, rows) == ref
    assert matrix_digest(dense, rows, chunk=7) == ref
    assert matrix_digest(explicit, rows) == matrix_digest(explicit.toarray(), rows)
    changed = dense.copy()
    changed[rows[3], 2] += 1
    assert matrix_digest(changed, rows) != ref
    assert matrix_digest(dense, rows[::-1]) != ref  # row order matters
    assert matrix_digest(changed, rows[rows != rows[3]]) == matrix_digest(
        dense, rows[rows != rows[3]]
    )  # only the given rows are read


def test_a_study_recorded_without_a_field_is_resumed_with_a_warning(caplog):
    study = optuna.create_study()
    study.set_user_attr(FINGERPRINT_ATTR, {"task": "embed", "genes": "abc"})
    now = {"task": "embed", "genes": "abc", "values": "def"}
    sag_logger.addHandler(caplog.handler)  # sag's logger does not propagate
    try:
        check_fingerprint(study, now, n_before=3)
    finally:
        sag_logger.removeHandler(caplog.handler)
    assert "without values" in caplog.text
    assert study.user_attrs[FINGERPRINT_ATTR] == now  # recorded now: later resumes check it
    with pytest.raises(ValueError, match="values: 'def' there, 'ghi' now"):
        check_fingerprint(study, {**now, "values": "ghi"}, n_before=4)
    with pytest.raises(ValueError, match="genes: 'abc' there, 'xyz' now"):
        check_fingerprint(study, {**now, "genes": "xyz"}, n_before=4)


def test_duplicate_sparse_entries_are_summed():
    dup = sparse.csr_matrix(
        (np.array([1.0, 2.0, 5.0]), np.array([1, 1, 0]), np.array([0, 2, 3])), shape=(2, 3)
    )
    assert not dup.has_canonical_format
    rows = np.arange(2)
    assert matrix_digest(dup, rows) == matrix_digest(dup.toarray(), rows)


def test_nearest_moves_a_value_onto_the_space():
    from scautogenome.search._spaces import fits, nearest

    grid = {"type": "int", "low": 2, "high": 11, "step": 4}  # draws 2, 6, 10
    assert [nearest(v, grid) for v in (4, 5, 9, 30, -3)] == [2, 6, 10, 10, 2]
    assert not fits(4, grid)
    assert fits(6, grid)
    assert not fits(11, grid)  # in [low, high] but off the grid
    assert nearest(0.6, {"type": "float", "low": 0.3, "high": 0.9, "step": 0.25}) == 0.55
    assert nearest(1, {"type": "int", "low": 2.5, "high": 7}) == 3
    assert nearest(1e-3, {"type": "float", "low": 1e-2, "high": 1e-1, "log": True}) == 1e-2
    assert nearest(4, [3, 5]) == 3  # a tie: the smaller
    assert nearest(700, [128, 512, 1024]) == 512
    assert nearest("relu", ["elu", "gelu"]) == "elu"
    assert nearest(0.1, 0.2) == 0.2  # a fixed value
    assert not fits(True, {"type": "int", "low": 0, "high": 2})


def _tiny_mlp(tiny_config, n_trials: int = 1) -> dict:
    return {
        **tiny_config,
        "mode": "mlp",
        "budget": {"n_trials": n_trials, "time_budget": None},
        "trainer": {"max_epochs": 3, "patience": 3, "min_epochs": 1},
        "search": {"initial_trials": "none"},
    }


def test_a_resumed_search_draws_points_of_its_own(adata, tiny_config, tmp_path):
    """Each session on a stored study seeds its sampler from the seed and the number of trials
    already there: a resume draws new points, and the same resume draws the same ones."""
    import scautogenome as sag

    cfg = _tiny_mlp(tiny_config)
    drawn = []
    for name in ("a", "b"):
        url = f"sqlite:///{tmp_path / (name + '.db')}"
        for _ in range(2):
            sag.tl.classify(adata.copy(), "label", config=cfg, storage=url)
        trials = optuna.load_study(study_name="sag-classify", storage=url).trials
        assert len(trials) == 2
        assert trials[0].params != trials[1].params
        drawn.append([t.params for t in trials])
    assert drawn[0] == drawn[1]  # deterministic


def test_a_two_class_average_precision_study_of_the_mean_of_both_is_refused(tiny_config, tmp_path):
    """Two classes' average precision became the rarer class's: a study whose trials scored
    the mean of both classes' (the record without the words) is not resumed."""
    import scautogenome as sag

    two = sag.datasets.synthetic(n_obs=150, n_vars=40, n_classes=2, seed=0)
    url = f"sqlite:///{tmp_path / 's.db'}"
    run = dict(config=_tiny_mlp(tiny_config), storage=url, metric="average_precision")
    sag.tl.classify(two.copy(), "label", **run)
    study = optuna.load_study(study_name="sag-classify", storage=url)
    stored = study.user_attrs[FINGERPRINT_ATTR]
    assert stored["metric"] == "average_precision (of the rarer of two classes)"
    sag.tl.classify(two.copy(), "label", **run)  # resumed as recorded
    study.set_user_attr(FINGERPRINT_ATTR, {**stored, "metric": "average_precision"})
    with pytest.raises(ValueError, match=r"metric: 'average_precision' there"):
        sag.tl.classify(two.copy(), "label", **run)


def test_sampler_seed_and_storage():
    from scautogenome.search._study import open_storage, sampler_seed

    assert sampler_seed(3, 0) == 3  # a new study: the seed itself, as before
    assert sampler_seed(3, 5) == sampler_seed(3, 5)
    assert len({sampler_seed(3, 5), sampler_seed(3, 6), sampler_seed(4, 5), 3}) == 4
    assert sampler_seed(3, 0, salt=11) != sampler_seed(3, 0, salt=12)  # workers started together
    storage = open_storage("sqlite:///:memory:")
    assert isinstance(storage, optuna.storages.RDBStorage)
    assert storage.get_heartbeat_interval() is not None
    # optuna < 4.9 names it the failed trial callback
    callback = getattr(storage, "get_heartbeat_stale_trial_callback", None)
    assert (callback or storage.get_failed_trial_callback)() is not None
    memory = optuna.storages.InMemoryStorage()
    assert open_storage(memory) is memory
    assert open_storage(None) is None


def test_a_cut_classifier_run_is_reproduced_to_its_kept_point(adata):
    """train_classifier checks the deadline after every minibatch; stop_after=kept_point(run)
    retrains the same seed to the same weights, whether the kept epoch was cut or whole."""
    import torch

    from scautogenome.data import prepare_labelled
    from scautogenome.nn import build_network
    from scautogenome.train import TrainParams, train_classifier
    from scautogenome.train._trainer import kept_point

    data = prepare_labelled(adata, "label", seed=0)
    arch = {"kind": "mlp", "n_inputs": adata.n_vars, "n_outputs": data.n_classes, "units": [16]}

    class Deadline:  # passes after `after` comparisons with the clock
        def __init__(self, after):
            self.after, self.n = after, 0

        def __lt__(self, now):
            self.n += 1
            return self.n > self.after

        def __gt__(self, now):
            return not self.__lt__(now)

    def run(**kwargs):
        torch.manual_seed(0)
        return train_classifier(
            build_network(arch),
            X=data.X,
            codes=data.codes,
            train_rows=data.rows("train"),
            val_rows=data.rows("val"),
            n_classes=data.n_classes,
            transform=data.transform.to_torch("cpu"),
            params=TrainParams(batch_size=32, max_epochs=8, min_epochs=5),
            device=torch.device("cpu"),
            seed=0,
            **kwargs,
        )

    # comparisons with the clock per epoch: one before each minibatch but the first, one at
    # its end
    checks = -(-len(data.rows("train")) // 32)
    cut = []
    # past at the end of the first epoch; in the second epoch; in the fourth
    for after in (checks - 1, checks + 2, 3 * checks + 1):
        res = run(deadline=Deadline(after))
        assert res.stopped == "time_budget"
        cut.append(res.cut_batches > 0)
        again = run(stop_after=kept_point(res))
        assert (again.best_epoch, again.best_score, again.best_loss) == (
            res.best_epoch,
            res.best_score,
            res.best_loss,
        )
        for name, value in res.state_dict.items():
            assert torch.equal(value, again.state_dict[name]), name
    assert cut == [False, True, True]


@pytest.mark.parametrize(
    "url", ["bogus://x", "sqlite:////no_such_folder_of_sag/s.db", "sqlite:///{tmp}/nodir/s.db"]
)
def test_a_storage_that_cannot_be_opened_fails_before_any_work(url, tmp_path, monkeypatch):
    """Unknown dialect or missing folder: a ValueError naming the URL, raised before the data
    are prepared (and with the password masked)."""
    import scautogenome as sag
    from scautogenome.tools import _classify, _embed

    url = url.format(tmp=tmp_path)
    adata = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=2, seed=0)

    def no_work(*args, **kwargs):
        raise AssertionError("the data were prepared")

    monkeypatch.setattr(_classify, "prepare_labelled", no_work)
    monkeypatch.setattr(_embed, "prepare_unlabelled", no_work)
    with pytest.raises(ValueError, match="cannot be opened") as err:
        sag.tl.classify(adata, "label", storage=url, n_trials=1)
    assert url in str(err.value)
    with pytest.raises(ValueError, match="cannot be opened"):
        sag.tl.embed(adata, storage=url, n_trials=1)
    with pytest.raises(ValueError, match=r"postgresql\+nodriver://sag:\*\*\*@") as err:
        sag.tl.classify(adata, "label", storage="postgresql+nodriver://sag:secret@h/db")
    assert "secret" not in str(err.value)


def test_a_retrained_best_trial_trains_with_its_own_seed():
    """Another session (or a worker) may run with another seed: the retrain takes the seed the
    trial recorded, and the point and reason its training ended."""
    from types import SimpleNamespace

    from scautogenome.search._study import _retrain

    calls = []

    def train(net, params, seed, report, deadline, stop_after=None):
        calls.append((seed, stop_after, report, deadline))
        return SimpleNamespace(stopped="max_epochs")

    best = optuna.trial.create_trial(
        value=1.0,
        user_attrs={"seed": 17, "kept_epochs": 3, "kept_batches": 2, "stopped": "time_budget"},
    )
    res = _retrain(best, {}, {}, seed=0, build=lambda arch: None, train=train)
    assert calls == [(17, (3, 2), None, None)]
    assert res.stopped == "time_budget"
    old = optuna.trial.create_trial(value=1.0)  # recorded before trials kept their seed
    old.number = 4
    _retrain(old, {}, {}, seed=5, build=lambda arch: None, train=train)
    assert calls[-1][:2] == (9, None)


def test_a_shared_sampler_draws_by_trial_number():
    """Two processes that start one stored study together have the same seed and see the same
    empty study: their samplers draw by trial number (unique across processes), so they draw
    different points, TPE's random startup ones included; one process alone draws the same
    points again with its seed, and a search without storage keeps its plain sampler."""
    from scautogenome.config import _config
    from scautogenome.search._study import make_sampler

    config = _config.load({})

    def draws() -> list[float]:
        storage = optuna.storages.InMemoryStorage()
        studies = [
            optuna.create_study(
                storage=storage,
                study_name="s",
                sampler=make_sampler(config, 0, shared=True),
                load_if_exists=True,
            )
            for _ in range(2)  # two processes on one study, the same seed
        ]
        out = []
        for i in range(4):  # their trials interleave: numbers 0, 1, 2, 3
            trial = studies[i % 2].ask()
            out.append(trial.suggest_float("x", 0.0, 1.0))
            studies[i % 2].tell(trial, out[-1])
        return out

    first = draws()
    assert len(set(first)) == 4
    assert draws() == first  # reproducible by seed
    plain = make_sampler(config, 0)
    assert isinstance(plain, optuna.samplers.TPESampler)  # as before: no storage, same trials


def test_a_starting_point_enqueued_twice_runs_once():
    """Optuna's enqueue_trial(skip_if_exists=True) is not atomic across processes: two that
    create a study together may both enqueue a starting point. Its second trial is known
    while the first one runs (or is complete), so the search prunes it at once."""
    from scautogenome.search._study import _point_taken

    study = optuna.create_study()
    point = {"lr": 0.001, "batch_size": 64}
    study.enqueue_trial(point)
    study.enqueue_trial(point)  # the other process's copy
    first, second = study.ask(), study.ask()
    third = study.ask()  # drawn, not enqueued
    assert _point_taken(study, first.number) is None
    assert _point_taken(study, second.number) == first.number
    assert _point_taken(study, third.number) is None
    study.tell(first, state=optuna.trial.TrialState.FAIL)  # a failed one is run again
    assert _point_taken(study, second.number) is None
    # a point of one's own that leaves batch_size to the sampler is another point
    study.enqueue_trial({"lr": 0.001})
    fourth = study.ask()
    assert _point_taken(study, fourth.number) is None


def test_a_mode_or_split_that_differs_is_named_in_words():
    study = optuna.create_study()
    then = {"mode": "mlp", "space": "abc", "train_rows": "r1", "val_rows": "v1"}
    study.set_user_attr(FINGERPRINT_ATTR, then)
    with pytest.raises(ValueError, match="The mode differs: the study searched mode 'mlp'") as e:
        check_fingerprint(study, {**then, "mode": "auto", "space": "def"}, n_before=2)
    assert "mode='mlp'" in str(e.value)
    assert "search space differs" not in str(e.value)  # the mode changed the space
    with pytest.raises(ValueError, match=r"search space differs") as e:
        check_fingerprint(study, {**then, "space": "def"}, n_before=2)
    assert "mode differs" not in str(e.value)
    for key in ("train_rows", "val_rows"):
        with pytest.raises(ValueError, match=r"training and validation cells differs \(seed, "):
            check_fingerprint(study, {**then, key: "other"}, n_before=2)


def test_a_refused_study_without_a_finished_trial_says_so():
    """A study whose only trials failed or were interrupted (none finished) is still refused
    for other settings (a worker may be running one), and the message says that none
    finished and how to remove the study."""
    study = optuna.create_study(study_name="s")
    then = {"mode": "mlp", "space": "abc"}
    study.set_user_attr(FINGERPRINT_ATTR, then)
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    with pytest.raises(ValueError, match="The mode differs") as e:
        check_fingerprint(study, {**then, "mode": "resnet"}, n_before=1)
    assert "None of its 1 trial(s) finished (1 failed or interrupted)" in str(e.value)
    study.ask()  # one left running (by a process that stopped, maybe)
    with pytest.raises(ValueError, match="The mode differs") as e:
        check_fingerprint(study, {**then, "mode": "resnet"}, n_before=2)
    assert (
        "None of its 2 trial(s) finished (1 failed or interrupted, 1 running (or left so by a "
        "process that stopped))" in str(e.value)
    )
    assert "optuna.delete_study(study_name='s', storage=...)" in str(e.value)
    study.tell(study.ask(), 0.5)  # one finished: no such sentence
    with pytest.raises(ValueError, match="The mode differs") as e:
        check_fingerprint(study, {**then, "mode": "resnet"}, n_before=3)
    assert "None of its" not in str(e.value)


def test_a_signal_during_a_search_waits_for_a_check_point(capfd, python_sigint):
    """While a search runs, Ctrl-C (or SIGTERM or SIGHUP with a Python handler, as the command
    line's) is noted (a line says so at once) and raised at the search's check points, not
    inside a storage write; a second one acts at once, and the previous handlers come back."""
    import os
    import signal

    from scautogenome.search._study import _DeferredSignals

    class Term(KeyboardInterrupt):
        pass

    def raise_term(signum, frame):
        raise Term

    reached = []

    def search(signals_sent: tuple, check: bool = True) -> None:
        with _DeferredSignals() as signals:
            for signum in signals_sent:
                os.kill(os.getpid(), signum)
                sum(range(1000))  # Python runs the handler here
                reached.append(signum)
            if check:
                signals.check()
                reached.append("after the check")

    before_int = signal.getsignal(signal.SIGINT)
    before_term = signal.signal(signal.SIGTERM, raise_term)
    before_hup = signal.signal(signal.SIGHUP, raise_term)  # the command line's, too
    try:
        with pytest.raises(KeyboardInterrupt):
            search((signal.SIGINT,))
        assert reached == [signal.SIGINT]  # noted only, raised by the check
        assert "stopping the search at its next safe point" in capfd.readouterr().err
        with pytest.raises(Term):
            search((signal.SIGTERM,))
        reached.clear()
        with pytest.raises(Term):
            search((signal.SIGHUP,))
        assert reached == [signal.SIGHUP]  # noted only, raised by the check
        reached.clear()
        with pytest.raises(KeyboardInterrupt):
            search((signal.SIGINT, signal.SIGINT))
        assert reached == [signal.SIGINT]  # the second one: at once
        with pytest.raises(KeyboardInterrupt):
            search((signal.SIGINT,), check=False)  # noted after the last check: on leaving
        search(())
        assert signal.getsignal(signal.SIGINT) is before_int
        assert signal.getsignal(signal.SIGTERM) is raise_term
        assert signal.getsignal(signal.SIGHUP) is raise_term
    finally:
        signal.signal(signal.SIGTERM, before_term)
        signal.signal(signal.SIGHUP, before_hup)


def test_a_database_whose_tables_another_process_creates_is_opened(tmp_path, monkeypatch):
    """Two processes that open one new SQLite file at the same moment both create its tables;
    the one that finds a table the other has just made opens the database again."""
    import functools

    from scautogenome.search._study import open_storage

    real = optuna.storages.RDBStorage.__init__
    calls = []

    @functools.wraps(real)  # its signature, which open_storage reads
    def raced(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("(sqlite3.OperationalError) table trial_values already exists")
        if len(calls) == 2:  # the other process stamped the schema version first
            raise RuntimeError(
                "(sqlite3.IntegrityError) UNIQUE constraint failed: alembic_version.version_num"
            )
        real(self, *args, **kwargs)

    monkeypatch.setattr(optuna.storages.RDBStorage, "__init__", raced)
    storage = open_storage(f"sqlite:///{tmp_path / 'new.db'}")
    assert isinstance(storage, optuna.storages.RDBStorage)
    assert len(calls) == 3
    with pytest.raises(ValueError, match="'bogus://x' cannot be opened: Can't load plugin"):
        open_storage("bogus://x")
    assert len(calls) == 4  # any other error: at once, not tried again


def test_optunas_lines_of_an_interrupted_or_diverged_trial_are_left_out():
    """Optuna reports a failed trial in two lines; for a trial stopped by Ctrl-C, or one whose
    training diverged, sag's own log says it already, so neither line is shown. Other
    failures keep both."""
    import logging

    from scautogenome.search._study import _Diverged, _OptunaQuiet

    def record(msg, exc=None):
        info = (type(exc), exc, None) if exc is not None else None
        return logging.LogRecord("optuna", logging.WARNING, __file__, 1, msg, None, info)

    quiet = _OptunaQuiet()
    assert not quiet.filter(
        record(
            "Trial 3 failed with parameters: {} because of the "
            "following error: KeyboardInterrupt().",
            KeyboardInterrupt(),
        )
    )
    assert not quiet.filter(record("Trial 3 failed with value None."))
    assert not quiet.filter(record("Trial 4 failed ...", _Diverged(4, "training diverged")))
    assert not quiet.filter(record("Trial 4 failed with value None."))
    assert quiet.filter(record("Trial 5 failed with parameters: {}", ValueError("other")))
    assert quiet.filter(record("Trial 5 failed with value None."))


def test_the_file_of_a_storage(tmp_path, monkeypatch):
    """The file n_trials=0 must find: SQLite of any driver or as a file: URI, a journal with
    ~ expanded as its opening does; none for other storages and SQLite in memory."""
    from scautogenome.search._study import check_collect, storage_file

    monkeypatch.setenv("HOME", str(tmp_path))
    assert storage_file("sqlite:///rel.db") == "rel.db"
    assert storage_file("sqlite:////abs/x.db") == "/abs/x.db"
    assert storage_file("sqlite+pysqlite:///x.db") == "x.db"
    assert storage_file("sqlite:///file:x.db?mode=ro&uri=true") == "x.db"
    assert storage_file("~/s.journal") == str(tmp_path / "s.journal")
    for other in ("sqlite:///:memory:", "postgresql://u@h/db", tmp_path / "s.journal"):
        assert storage_file(other) is None
    (tmp_path / "s.journal").write_text("")
    check_collect({"n_trials": 0}, "~/s.journal")  # there: no error
    with pytest.raises(ValueError, match="does not exist"):
        check_collect({"n_trials": 0}, "~/other.journal")


def test_no_trial_starts_after_the_deadline_when_the_fingerprint_takes_time(
    adata, tmp_path, monkeypatch
):
    """With a storage, the data's fingerprint is computed between the search's start and
    Optuna's: Optuna gets what is left of the budget, so that no trial starts past sag's
    deadline, trains one minibatch and is stored as complete with a chance-level score."""
    import time

    import scautogenome as sag
    from scautogenome.search import _study

    check = _study.check_fingerprint

    def slow(*args, **kwargs):
        time.sleep(1.5)  # the fingerprint of a large matrix
        return check(*args, **kwargs)

    monkeypatch.setattr(_study, "check_fingerprint", slow)
    config = {
        "mode": "mlp",
        # time for trials after the fingerprint's 1.5 s on a loaded machine too (with 3 s
        # the first trial was once cut in its first epoch, with CI beside other work)
        "budget": {"n_trials": 1000, "time_budget": 6},
        "trainer": {"max_epochs": 100_000, "patience": 100_000, "min_epochs": 1},
    }
    url = f"sqlite:///{tmp_path / 's.db'}"
    sag.tl.classify(adata, "label", config=config, storage=url, study_name="s", seed=0)
    trials = optuna.load_study(study_name="s", storage=url).trials
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    cut_at_once = [t for t in done if t.user_attrs.get("kept_epochs") == 0 and t.number > 0]
    # at most the one trial that the deadline reached right after its start (it was 19)
    assert len(cut_at_once) <= 1
    # a budget the fingerprint spends whole: said so, not "check the failed trials"
    config["budget"]["time_budget"] = 1
    url = f"sqlite:///{tmp_path / 't.db'}"
    with pytest.raises(ValueError, match=r"time_budget=1 s ran out before the first trial"):
        sag.tl.classify(adata, "label", config=config, storage=url, study_name="t", seed=0)


def test_a_storage_sag_cannot_write_fails_before_any_work(tmp_path, monkeypatch):
    """A read-only storage file or folder (a finished study on a read-only share), a journal
    path that cannot be created, and a bare file name for a URL: ValueErrors naming the
    storage and the fix, before the data are prepared (they were Optuna's commit error,
    an OSError without the storage, and SQLAlchemy's 'Could not parse' after or before it)."""
    import os

    import scautogenome as sag
    from scautogenome.search import _study
    from scautogenome.tools import _classify

    adata = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=2, seed=0)

    def no_work(*args, **kwargs):
        raise AssertionError("the data were prepared")

    monkeypatch.setattr(_classify, "prepare_labelled", no_work)
    db = tmp_path / "done.db"
    journal = tmp_path / "done.log"
    _study.open_storage(f"sqlite:///{db}")  # a study file, there
    journal.write_text("")
    real = os.access
    for url, locked in ((f"sqlite:///{db}", db), (str(journal), journal)):
        for n_trials in (0, 2):  # collecting writes too (Optuna's study record, its lock)
            monkeypatch.setattr(_study.os, "access", lambda p, mode, f=locked: p != str(f))
            with pytest.raises(ValueError, match=r"cannot be written: .* is read-only") as err:
                sag.tl.classify(adata, "label", storage=url, n_trials=n_trials)
            assert "copy it" in str(err.value)
            monkeypatch.setattr(_study.os, "access", lambda p, mode, f=locked: p != str(f.parent))
            with pytest.raises(ValueError, match=r"cannot be written: its folder .* read-only"):
                sag.tl.classify(adata, "label", storage=url, n_trials=n_trials)
    # a new storage in a read-only folder: nothing to copy
    monkeypatch.setattr(_study.os, "access", lambda p, mode: p != str(tmp_path))
    with pytest.raises(ValueError, match=r"read-only .*; give a storage in a folder you can"):
        sag.tl.classify(adata, "label", storage=f"sqlite:///{tmp_path / 'new.db'}", n_trials=1)
    monkeypatch.setattr(_study.os, "access", real)

    def unmakeable(path, *args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", path)

    monkeypatch.setattr(_study, "_journal_backend", unmakeable)
    with pytest.raises(ValueError, match=r"storage='/proc/x.log' cannot be opened: .*No such"):
        sag.tl.classify(adata, "label", storage="/proc/x.log", n_trials=1)
    with pytest.raises(ValueError, match=r"'search.db' cannot be opened: .* sqlite:///search.db"):
        sag.tl.classify(adata, "label", storage="search.db", n_trials=1)


def test_collecting_a_study_that_is_not_there_fails_before_any_work(tmp_path, monkeypatch):
    """n_trials=0 with a study name the storage lacks: named before the data are prepared."""
    import scautogenome as sag
    from scautogenome.search import _study
    from scautogenome.tools import _classify, _embed

    adata = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=2, seed=0)

    def no_work(*args, **kwargs):
        raise AssertionError("the data were prepared")

    monkeypatch.setattr(_classify, "prepare_labelled", no_work)
    monkeypatch.setattr(_embed, "prepare_unlabelled", no_work)
    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(storage=_study.open_storage(url), study_name="k")
    with pytest.raises(ValueError, match=r"holds no study 'kk' \(studies there: \['k'\]\)"):
        sag.tl.classify(adata, "label", storage=url, study_name="kk", n_trials=0)
    with pytest.raises(ValueError, match=r"holds no study 'sag-classify'"):
        sag.tl.classify(adata, "label", storage=url, n_trials=0)
    with pytest.raises(ValueError, match=r"holds no study 'sag-embed-resvae'"):
        sag.tl.embed(adata, storage=url, n_trials=0)


@pytest.mark.parametrize(
    ("there", "now", "default"),
    [
        ("classify", "embed", "sag-embed-resvae"),
        ("regression", "embed", "sag-embed-resvae"),
        ("embed", "classify", "sag-classify"),
        ("embed", "regression", "sag-classify"),
    ],
)
def test_a_study_of_the_other_tool_is_refused_at_once(there, now, default, caplog):
    """A classify study resumed by embed (or the reverse) is named as such, before any
    warning about its settings, with no advice about the mode."""
    study = optuna.create_study(study_name="s")
    then = {"task": there, "mode": "mlp", "space": "abc", "trainer": '{"max_epochs": 3}'}
    study.set_user_attr(FINGERPRINT_ATTR, then)
    caplog.clear()  # Optuna's line of the new study (pytest 9.1+ captures Optuna's log too)
    tool = "embed" if now == "embed" else "classify"
    other = "classify" if tool == "embed" else "embed"
    new = {"task": now, "mode": "resvae", "space": "def", "trainer": '{"max_epochs": 5}'}
    sag_logger.addHandler(caplog.handler)  # sag's logger does not propagate
    try:
        with pytest.raises(
            ValueError, match=rf"study 's' in this storage is an? {other} search"
        ) as e:
            check_fingerprint(study, new, n_before=2)
    finally:
        sag_logger.removeHandler(caplog.handler)
    assert caplog.text == ""  # no warning about the trainer settings first
    msg = str(e.value)
    assert "another study_name=" in msg
    assert repr(default) in msg  # the study this search uses without study_name=
    assert "mode=" not in msg
    assert "mode differs" not in msg
    assert study.user_attrs[FINGERPRINT_ATTR] == then  # the record is left as it was


def test_a_study_of_the_other_tool_named_as_the_default_is_not_advised_again():
    """An embed study stored under classify's default name: leaving study_name out would
    find it again, so that is not advised."""
    study = optuna.create_study(study_name="sag-classify")
    study.set_user_attr(FINGERPRINT_ATTR, {"task": "embed", "mode": "resvae"})
    with pytest.raises(ValueError, match="is an embed search") as e:
        check_fingerprint(study, {"task": "classify", "mode": "mlp"}, n_before=1)
    assert "leave it out" not in str(e.value)
    assert "another study_name=" in str(e.value)


def test_embed_on_a_classify_study_of_a_storage_names_the_other_tool(
    adata, tiny_config, tmp_path, sag_caplog
):
    import scautogenome as sag

    url = f"sqlite:///{tmp_path / 's.db'}"
    cfg = _tiny_mlp(tiny_config)
    sag.tl.classify(adata.copy(), "label", config=cfg, storage=url, study_name="s")
    sag_caplog.clear()
    cfg = {"budget": {"n_trials": 1, "time_budget": None}, "trainer": {"max_epochs": 1}}
    with pytest.raises(ValueError, match="study 's' in this storage is a classify search") as e:
        sag.tl.embed(adata.copy(), config=cfg, storage=url, study_name="s")
    assert "'sag-embed-resvae'" in str(e.value)
    assert "still compare" not in sag_caplog.text


def test_a_pruned_or_diverged_trial_frees_its_training_before_the_next_trial():
    """A trial's training pruned (or diverged) was kept alive, with its network, optimizer
    state and last batches, by the traceback of the exception caught (a reference cycle
    through Optuna's frame) until the cycle collector ran: on a GPU, two trials' memory at a
    time. Checked with the collector off: each trial finds the last one's training freed."""
    import gc
    import weakref

    import torch
    from conftest import one_float_search

    import scautogenome as sag
    from scautogenome.config import _config
    from scautogenome.train import Diverged, Pruned

    cfg = _config.load(None, "mlp")
    cfg["budget"] = {**cfg["budget"], "n_trials": 5, "time_budget": None}
    refs, alive = [], []

    class Result:
        best_loss, best_epoch, history, seconds, stopped, cut_batches = 0.0, 0, [{}], 0.0, "", 0

        def __init__(self, value):
            self.value, self.state_dict = value, {}

    def train(net, params, seed, report, deadline, stop_after=None):
        alive.append([r() is not None for r in refs])

        def fit():
            weights = torch.zeros(1000)  # what a training holds: weights, optimizer, batches
            refs.append(weakref.ref(weights))
            if len(refs) in (2, 4):
                raise Pruned
            if len(refs) == 3:
                raise Diverged("training diverged: a non-finite loss")
            return Result(params["x"])

        return fit()

    sag.settings.verbosity = 0
    gc.collect()
    gc.disable()
    try:
        one_float_search(cfg, train, seed=0, enqueue=None)
    finally:
        gc.enable()
    # trials 2-4 find the pruned trial 1, the diverged trial 2, the pruned trial 3 freed
    assert [a[i] for a, i in zip(alive[2:5], (1, 2, 3))] == [False, False, False]
