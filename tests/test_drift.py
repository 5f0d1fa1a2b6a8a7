"""Drift notes and the "vs book" table: quiet for a normal run, a note naming what differs when
a run leaves the book's band, and the book's numbers beside the run's at its end.

The recorded streams are real runs' per-epoch metrics (2 CPU threads, the seeds named), kept
here so the tests take milliseconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab import catalog, drift, reference, runner
from lab.events import Ended, EpochEnd, Event, Message, Started, Table, from_dict
from lab.store import Store

# (train_loss, train_acc, test_acc) per epoch, recorded with the book's settings.
SOFTMAX_SEED_1 = [
    (0.783, 0.7529, 0.7918), (0.5705, 0.8135, 0.797), (0.5258, 0.8252, 0.8132),
    (0.5007, 0.8324, 0.825), (0.4851, 0.8375, 0.8257), (0.4743, 0.8399, 0.8231),
    (0.4654, 0.8425, 0.8289), (0.4574, 0.8444, 0.8277), (0.452, 0.8466, 0.833),
    (0.4464, 0.8484, 0.8162)]
MLP_SCRATCH_SEED_1 = [
    (1.0408, 0.6311, 0.7489), (0.599, 0.7901, 0.7999), (0.5209, 0.8177, 0.8042),
    (0.4792, 0.8317, 0.8206), (0.4528, 0.8421, 0.7932), (0.432, 0.8474, 0.8368),
    (0.4152, 0.8533, 0.8389), (0.4028, 0.8581, 0.8343), (0.3914, 0.8619, 0.8513),
    (0.3815, 0.8651, 0.8503)]
# Its test accuracy dips to 0.71 at epoch 2 (lr 0.5), one epoch: not a drift.
DROPOUT_SEED_0 = [
    (0.8872, 0.6727, 0.7736), (0.523, 0.8078, 0.7135), (0.4608, 0.8309, 0.8337),
    (0.4268, 0.8438, 0.8205), (0.4023, 0.8525, 0.8365), (0.3832, 0.8593, 0.8592),
    (0.3678, 0.8649, 0.8644), (0.3534, 0.8704, 0.8437), (0.3451, 0.8735, 0.8555),
    (0.3375, 0.8762, 0.8698)]
# LeNet leaves chance during epoch 1 here, in epoch 2 in the book: a step ahead, still normal.
LENET_RUN = [(2.2881, 0.1197, 0.2767), (1.114, 0.5533, 0.5695), (0.8119, 0.6807, 0.6995),
             (0.6904, 0.7298, 0.7413), (0.6284, 0.754, 0.7515), (0.5873, 0.7717, 0.7349),
             (0.5482, 0.7891, 0.7805), (0.5128, 0.8048, 0.7894), (0.4904, 0.8162, 0.8086),
             (0.4707, 0.824, 0.8077)]
# softmax with lr 0.01 (seed 0): ten times smaller steps than the book's.
SOFTMAX_LR_001 = [(1.3671, 0.6479, 0.6797), (0.9158, 0.7169, 0.7266),
                  (0.8022, 0.7509, 0.7491)]
NAMES = ("train_loss", "train_acc", "test_acc")


def epochs(rows: list[tuple[float, ...]]) -> list[EpochEnd]:
    return [EpochEnd(e, len(rows), dict(zip(NAMES, row, strict=True)), 1000.0, float(e))
            for e, row in enumerate(rows, 1)]


def notes_of(exp_id: str, rows: list[tuple[float, ...]], **overrides: object) -> list[str]:
    exp = catalog.get(exp_id)
    params = exp.resolve("book", overrides)
    ref = reference.find(exp_id, params)
    assert ref is not None
    watch = drift.BookWatch(exp, params, ref)
    return [m.text for m in map(watch.note, epochs(rows)) if m is not None]


@pytest.mark.parametrize(("exp_id", "rows"), [("softmax", SOFTMAX_SEED_1),
                                              ("mlp-scratch", MLP_SCRATCH_SEED_1),
                                              ("dropout", DROPOUT_SEED_0),
                                              ("lenet", LENET_RUN)])
def test_runs_with_the_books_settings_raise_no_note(exp_id: str, rows: list) -> None:
    assert notes_of(exp_id, rows) == []


def test_softmax_at_lr_001_is_noted_by_epoch_3_naming_lr() -> None:
    notes = notes_of("softmax", SOFTMAX_LR_001, lr=0.01, epochs=3)
    assert notes == ["test acc 0.73 at epoch 2, book 0.81 — lr is 0.01 here, 0.1 in the book"]


def test_a_run_is_noted_once_and_only_after_two_epochs_outside() -> None:
    rows = [(0.78, 0.75, 0.55), (0.57, 0.81, 0.81), (0.53, 0.83, 0.55), (0.50, 0.83, 0.55),
            (0.48, 0.84, 0.55), (0.47, 0.70, 0.55)]
    notes = notes_of("softmax", rows)  # a dip at epoch 1 alone; from epoch 3 on, for good
    assert notes == ["test acc 0.55 at epoch 4, book 0.82 — the settings are the book's"]
    # Several at once: the held-out metric says it, the others are named after it.
    notes = notes_of("softmax", [(1.5, 0.5, 0.5)] * 2)
    assert notes == ["test acc 0.50 at epoch 2, book 0.81 (train acc, train loss too) — the "
                     "settings are the book's"]


def test_the_books_own_curves_stay_in_their_bands() -> None:
    for ref in reference.all_references():
        for metric, points in ref.series.items():
            for x, y in points:
                assert not drift.outside(ref, metric, x, y), (ref.experiment, metric, x)


def test_a_run_a_step_from_the_book_is_normal_but_further_is_not() -> None:
    ref = reference.find("lenet", {})
    assert ref is not None
    # The book's LeNet leaves chance (0.1) in epoch 2 and reads 0.583 after it, 0.696 after 3.
    assert not drift.outside(ref, "test_acc", 1, 0.55)  # out of chance an epoch earlier
    assert not drift.outside(ref, "test_acc", 2, 0.1)  # or an epoch later
    assert drift.outside(ref, "test_acc", 3, 0.1)  # but not two
    assert not drift.outside(ref, "train_loss", 3, 1.2)  # between the book's 1.79 and 0.92
    assert drift.outside(ref, "train_loss", 8, 1.0)
    assert not drift.outside(ref, "test_acc", 11, 0.1)  # past the book's epochs: no say


def test_curves_of_data_drawn_anew_each_run_are_shown_but_not_watched() -> None:
    exp = catalog.get("polyfit")
    params = exp.resolve()
    ref = reference.find(exp.id, params)
    assert ref is not None and not ref.drift and ref.series["test_loss"]
    watch = drift.BookWatch(exp, params, ref)  # a test loss 40× the book's is one draw's luck
    far = [EpochEnd(e, 400, {"train_loss": 0.05, "test_loss": 0.07}, 1.0, 1.0)
           for e in (20, 40, 60)]
    assert [watch.note(e) for e in far] == [None, None, None]


def watched(exp_id: str, events: list[Event], **overrides: object) -> list[Event]:
    exp = catalog.get(exp_id)
    heard: list[Event] = []
    emit = drift.watch(exp, exp.resolve("book", overrides), heard.append)
    for event in events:
        emit(event)
    return heard



def test_the_end_of_a_lenet_run_sets_the_books_numbers_beside_its_own() -> None:
    ended = Ended("finished", "", dict(zip(NAMES, LENET_RUN[-1], strict=True)), 99.0)
    heard = watched("lenet", [*epochs(LENET_RUN), ended])
    table, end = heard[-2:]
    assert end is ended and isinstance(table, Table)
    assert table.title == "vs book: lenet" and table.columns == ["", "this run", "book"]
    assert table.rows == [["train loss", "0.4707", "0.469"], ["train acc", "0.824", "0.824"],
                          ["test acc", "0.8077", "0.776"]]
    assert not any(isinstance(e, Message) for e in heard)
    assert from_dict(json.loads(json.dumps(table.to_dict()))) == table  # the store keeps it


def test_a_run_stopped_early_is_set_beside_the_book_at_its_epoch_and_at_the_end() -> None:
    rows = LENET_RUN[:5]
    ended = Ended("stopped", "", dict(zip(NAMES, rows[-1], strict=True)), 9.0)
    table = watched("lenet", [*epochs(rows), ended], lr=0.5)[-2]
    assert isinstance(table, Table)
    assert table.title == "vs book: lenet · differs: lr"
    assert table.columns == ["", "this run · epoch 5", "book · epoch 5", "book · epoch 10"]
    assert table.rows[2] == ["test acc", "0.7515", "0.743", "0.776"]


def test_an_experiment_the_book_does_not_run_is_left_alone() -> None:
    def sink(event: Event) -> None:
        pass

    exp = catalog.get("init-stability")
    assert drift.watch(exp, exp.resolve(), sink) is sink
    polyfit = catalog.get("polyfit")  # a degree the book does not fit
    assert drift.watch(polyfit, polyfit.resolve("book", {"degree": 7}), sink) is sink


@pytest.mark.timeout(60)
def test_the_runner_tells_every_sink_and_the_store_keeps_the_table(lab_home: Path,
                                                                  one_thread: None) -> None:
    exp = catalog.get("linreg-scratch")
    heard: list[Event] = []
    result = runner.run(exp, exp.resolve(), seed=0, sinks=[heard.append], store=Store())
    assert result.status == "finished"
    kinds = [type(e) for e in heard]
    assert kinds[0] is Started and kinds[-2:] == [Table, Ended]
    assert not [e for e in heard if isinstance(e, Message) and e.level == "warning"]
    table = heard[-2]
    assert isinstance(table, Table) and table.title == "vs book: linreg-scratch"
    assert ["loss", table.rows[0][1], "5.4e-05"] == table.rows[0]
    saved = [json.loads(line) for line in
             (result.run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in saved][-2:] == ["table", "ended"]


@pytest.mark.timeout(60)
def test_a_real_softmax_run_at_lr_001_is_noted_at_its_second_epoch(
        lab_home: Path, fashion_mnist: Path, one_thread: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("D2L_LAB_DATA", str(fashion_mnist))
    exp = catalog.get("softmax")
    heard: list[Event] = []
    runner.run(exp, exp.resolve("book", {"epochs": 2, "lr": 0.01}), seed=0,
               sinks=[heard.append])
    notes = [e for e in heard if isinstance(e, Message) and e.level == "warning"]
    assert len(notes) == 1 and notes[0].text.endswith("— lr is 0.01 here, 0.1 in the book")
    assert heard.index(notes[0]) > [i for i, e in enumerate(heard)
                                    if isinstance(e, EpochEnd)][-1]  # after epoch 2
    assert isinstance(heard[-2], Table) and heard[-2].title == "vs book: softmax · differs: lr"
