"""`d2l-lab course`: which experiments a course or a chapter runs and in what order, the book's
result beside each run's, and real tiny courses (a few synthetic experiments standing in for the
catalog): the table, the runs grouped under the course's id, --json, a diverged run that does
not stop the course, Ctrl+C, and --skip-missing-data."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest

from lab import catalog, course
from lab.course import CourseError, book_result, shown_metrics
from lab.spec import Experiment
from lab.store import Store
from tests.test_bad_input import invoke
from tests.test_data_hub import fashion_without_system_copy


def ids(experiments: list[Experiment]) -> list[str]:
    return [exp.id for exp in experiments]


def with_quick(exp_id: str, **quick: object) -> Experiment:
    """A catalog experiment whose quick preset is ``quick`` (same id, recipe and record)."""
    return replace(catalog.get(exp_id), presets={"quick": quick})


@pytest.fixture
def tiny_catalog(monkeypatch: pytest.MonkeyPatch):
    """Replace the catalog with the experiments given, for a course of seconds."""

    def use(*experiments: Experiment | str) -> None:
        chosen = tuple(catalog.get(e) if isinstance(e, str) else e for e in experiments)
        monkeypatch.setattr(catalog, "experiments", lambda: chosen)

    return use


def json_lines(stdout: str) -> tuple[list[dict], dict]:
    """The per-experiment lines of `course --json`, and the closing course line."""
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert [line["kind"] for line in lines] == ["course-run"] * (len(lines) - 1) + ["course"]
    return lines[:-1], lines[-1]


# -- what a course runs -------------------------------------------------------------------------


def test_the_whole_course_is_every_experiment_in_lecture_order() -> None:
    chosen = course.select()
    assert ids(chosen) == ids(catalog.experiments())
    assert len(chosen) == len(catalog.experiments()) > 30
    lectures = [exp.lecture for exp in chosen]
    assert lectures == sorted(lectures) and lectures[0] == 4


def test_a_chapter_by_its_id_or_its_start_runs_only_its_experiments() -> None:
    assert ids(course.select("linear-networks")) == ["linreg-scratch", "linreg",
                                                     "softmax-scratch", "softmax"]
    assert ids(course.select("attention")) == ["nadaraya-watson", "attention-scoring",
                                               "bahdanau", "self-attention", "transformer"]
    assert ids(course.select("recurrent")) == ["sequence", "text-preprocess", "lm-stats",
                                               "rnn-scratch", "rnn"]
    # Every experiment is in exactly one chapter's course.
    every = [exp_id for chapter in course.chapters() for exp_id in ids(course.select(chapter.id))]
    assert sorted(every) == sorted(ids(catalog.experiments()))


@pytest.mark.parametrize("name, message", [
    ("optimisation", "no chapter 'optimisation'; the chapters are: preliminaries, "
                     "linear-networks, multilayer-perceptrons, convolutional-networks, "
                     "computational-performance, recurrent-networks, modern-recurrent-networks, "
                     "attention-mechanisms, optimization"),
    ("m", "--chapter 'm' could be multilayer-perceptrons, modern-recurrent-networks; the "
          "chapters are: preliminaries"),
    ("", "no chapter ''"),
])
def test_an_unknown_or_ambiguous_chapter_names_the_chapters(name, message) -> None:
    with pytest.raises(CourseError) as caught:
        course.select(name)
    assert str(caught.value).startswith(message)
    code, _, stderr = invoke("course", "--chapter", name)
    assert code == 2 and message in " ".join(stderr.split())
    assert Store().recent(None) == []


def test_a_preset_that_not_every_experiment_has_is_refused_with_those_all_have() -> None:
    with pytest.raises(CourseError, match=r"--preset must be one that every experiment has: "
                       r"book, quick \(got 'decay', which tensors, preprocess, "
                       r"dataset-loader … lack\)"):
        course.select(None, "decay")
    assert ids(course.select("multilayer", "book"))[:2] == ["mlp-scratch", "mlp"]
    code, _, stderr = invoke("course", "--chapter", "multilayer", "--preset", "underfit")
    assert code == 2 and "every experiment has: book, quick (got 'underfit'" in stderr


@pytest.mark.parametrize("args, message", [
    (["--device", "cuda:7"], "cuda:7"),
    (["--seed", "-1"], "seed: must be ≥ 0"),
    (["--seed", "abc"], "seed: must be an integer"),
])
def test_a_bad_device_or_seed_is_refused_before_any_run_exists(args, message) -> None:
    code, stdout, stderr = invoke("course", "--chapter", "linear", *args)
    assert code == 2 and message in stderr and stdout == ""
    assert Store().recent(None) == []


def test_course_help_never_imports_torch() -> None:
    code = ("import sys\nsys.argv = ['d2l-lab', 'course', '--help']\nimport lab.cli\n"
            "try:\n    lab.cli.main()\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "--skip-missing-data" in proc.stdout and "linear-networks" in proc.stdout


# -- the book's result --------------------------------------------------------------------------


def test_every_experiment_states_what_the_book_shows() -> None:
    for exp in catalog.experiments():
        assert book_result(exp, "book"), f"{exp.id} has no book result"
        assert book_result(exp, "quick"), exp.id  # quick falls back to the book preset's
    gru = catalog.get("gru")  # quick trains the concise GRU: the book's concise result
    assert (book_result(gru, "book"), book_result(gru, "quick")) == (
        "perplexity 1.1", "perplexity 1.0 (concise)")
    polyfit = catalog.get("polyfit")
    assert book_result(polyfit, "cubic") == book_result(polyfit, "book")
    assert book_result(polyfit, "underfit") == "train_loss 3.20 · test_loss 11.9"


def test_a_book_result_for_a_preset_that_does_not_exist_is_a_declaration_error() -> None:
    with pytest.raises(ValueError, match=r"linreg: book_result names no preset \['fast'\]"):
        replace(catalog.get("linreg"), book_result={"fast": "loss 1"})


def test_the_result_shows_the_metrics_the_book_names_else_the_main_one() -> None:
    wd = catalog.get("weight-decay")
    metrics = {"train_loss": 1e-5, "test_loss": 96.2, "w_norm": 14.1}
    assert shown_metrics(wd, metrics, "quick") == ["w_norm", "test_loss"]
    softmax = {"train_loss": 0.5, "train_acc": 0.8, "test_acc": 0.81}
    assert shown_metrics(catalog.get("softmax"), softmax, "quick") == ["test_acc"]
    assert shown_metrics(catalog.get("seq2seq"), {"loss": 0.02, "tokens_per_sec": 9e3,
                                                  "bleu": 0.6, "exact": 2}, "book") == [
        "loss", "bleu"]
    # The book names none of init-stability's metrics: its main one, test accuracy.
    init = {"train_loss": 2.3, "train_acc": 0.1, "test_acc": 0.1, "grad_ratio_first_batch": 1e-4}
    assert shown_metrics(catalog.get("init-stability"), init, "quick") == ["test_acc"]
    assert shown_metrics(catalog.get("self-attention"), {}, "book") == []  # a demo prints


def test_a_course_id_names_the_time_the_chapter_and_the_preset() -> None:
    chapter = course.find_chapter("linear")
    first = course.new_course_id("quick", chapter, now=0)
    assert re.fullmatch(r"course-\d{8}-\d{6}-linear-networks-quick-[0-9a-f]{4}", first)
    assert re.fullmatch(r"course-\d{8}-\d{6}-book-[0-9a-f]{4}", course.new_course_id("book"))
    assert course.new_course_id("quick", chapter, now=0) != first


# -- real tiny courses --------------------------------------------------------------------------


def test_a_tiny_course_runs_each_in_turn_and_groups_its_runs(tiny_catalog, one_thread) -> None:
    tiny_catalog("linreg-scratch", "linreg", "weight-decay", "conv-edge")
    code, stdout, stderr = invoke("course", "--json")
    assert code == 0, stderr
    runs, summary = json_lines(stdout)
    assert [(r["lecture"], r["experiment"], r["status"]) for r in runs] == [
        (8, "linreg-scratch", "finished"), (8, "linreg", "finished"),
        (12, "weight-decay", "finished"), (19, "conv-edge", "finished")]
    assert summary["counts"] == {"finished": 4}
    assert {r.pop("kind") for r in runs} == {"course-run"}
    assert {r.pop("course") for r in runs} == {summary["course"]} and summary["runs"] == runs
    assert (summary["preset"], summary["chapter"], summary["device"]) == ("quick", None, "cpu")
    assert re.fullmatch(r"course-\d{8}-\d{6}-quick-[0-9a-f]{4}", summary["course"])
    assert summary["seconds"] >= sum(r["seconds"] for r in runs) > 0
    first, _, wd, edge = runs
    assert first["metrics"]["loss"] < 1e-3 and first["result"].startswith("loss 0.0000")
    assert first["book"] == "loss 0.000054"
    assert re.fullmatch(r"w_norm \d+\.\d{4} · test_loss \d+\.\d{4}", wd["result"])
    assert edge["result"].startswith("kernel_error 0.0") and edge["book"] == (
        "kernel_error 0.0393")

    records = Store().recent(None, sweep=summary["course"])
    assert sorted(r.id for r in records) == sorted(r["run"] for r in runs)
    assert {(r.status, r.preset) for r in records} == {("finished", "quick")}
    code, listed, _ = invoke("runs", "list", "--sweep", summary["course"])
    assert code == 0
    assert sorted(re.findall(r"\d{8}-\d{6}-[a-z-]+-[0-9a-f]{4}", listed)) == sorted(
        r.id for r in records)
    # With --json, stdout holds only JSON; the lines and the table go to stderr.
    assert "[3/4] 12 weight-decay finished in" in stderr and "total " in stderr


def test_the_table_sets_each_result_beside_the_books(tiny_catalog, one_thread,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_catalog("linreg-scratch", "weight-decay")
    monkeypatch.setenv("COLUMNS", "160")
    code, stdout, _ = invoke("course", "--chapter", "multilayer", "--seed", "3")
    assert code == 0, stdout
    lines = stdout.splitlines()
    assert re.match(r"course course-\S+-multilayer-perceptrons-quick-\S+: 1 experiments of the "
                    r"multilayer perceptrons chapter, preset quick, on cpu, seed 3", lines[0])
    assert re.search(r"^\[1/1\] 12 weight-decay finished in \d+\.\ds  w_norm \S+ · test_loss "
                     r"\S+  \(book w_norm 12\.96 · test_loss 98\.4\)$", stdout, re.M)
    header = next(i for i, line in enumerate(lines) if line.startswith("lecture"))
    assert lines[header].split() == ["lecture", "experiment", "status", "time", "(s)", "result",
                                     "book"]
    assert re.fullmatch(r"12 +weight-decay +finished +\d+\.\d +w_norm \d+\.\d{4} · test_loss "
                        r"\d+\.\d{4} +w_norm 12\.96 · test_loss 98\.4", lines[header + 1].strip())
    assert "linreg-scratch" not in stdout  # another chapter's
    assert re.search(r"^total \d+\.\ds: 1 finished$", stdout, re.M)
    [record] = Store().recent(None)
    assert record.seed == 3 and record.sweep in lines[0]


def test_a_diverged_experiment_does_not_stop_the_course_but_sets_its_exit_code(
        tiny_catalog, one_thread) -> None:
    tiny_catalog("linreg-scratch", with_quick("linreg", lr=1000.0), "weight-decay")
    code, stdout, _ = invoke("course", "--json")
    assert code == 1
    runs, summary = json_lines(stdout)
    assert [(r["experiment"], r["status"]) for r in runs] == [
        ("linreg-scratch", "finished"), ("linreg", "diverged"), ("weight-decay", "finished")]
    assert "lr" in runs[1]["reason"] and summary["counts"] == {"finished": 2, "diverged": 1}


@pytest.mark.timeout(60)
def test_ctrl_c_stops_the_run_under_way_skips_the_rest_and_still_prints_the_table(
        tiny_catalog, one_thread, lab_home) -> None:
    """A real SIGINT to this process while the first run trains (the command's own handler
    catches it, as in a terminal)."""
    tiny_catalog(with_quick("linreg-scratch", batch_size=1, epochs=1000), "linreg",
                 "weight-decay")
    before = signal.getsignal(signal.SIGINT)

    def interrupt_when_training() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            running = Store().recent(None, status="running")
            events = lab_home / "runs" / running[0].id / "events.jsonl" if running else None
            if events and events.exists() and events.stat().st_size:
                time.sleep(0.3)  # a few hundred batches in
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.05)

    Store()  # the index exists before two threads open it (a fresh one's WAL switch can race)
    thread = threading.Thread(target=interrupt_when_training)
    thread.start()
    code, stdout, stderr = invoke("course", "--json")
    thread.join()
    assert code == 130, stderr
    runs, summary = json_lines(stdout)
    assert [(r["experiment"], r["status"]) for r in runs] == [
        ("linreg-scratch", "stopped"), ("linreg", "not run"), ("weight-decay", "not run")]
    assert summary["counts"] == {"stopped": 1, "not run": 2}
    assert re.search(r"^08 +linreg +not run +- +- +loss 0\.000097", stderr, re.M)
    [record] = Store().recent(None)  # the rest were never created
    assert record.status == "stopped" and record.sweep == summary["course"]
    assert (lab_home / "runs" / record.id / "final.pt").exists()
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is back


def test_missing_data_is_skipped_when_asked_else_its_run_fails_and_the_course_goes_on(
        tiny_catalog, one_thread, monkeypatch: pytest.MonkeyPatch) -> None:
    fashion_without_system_copy(monkeypatch)  # and D2L_LAB_OFFLINE=1 (conftest): not here
    tiny_catalog("linreg-scratch", "softmax", "weight-decay")
    code, stdout, stderr = invoke("course", "--skip-missing-data", "--json")
    assert code == 0, stderr
    runs, summary = json_lines(stdout)
    assert [(r["experiment"], r["status"], r["reason"], r["run"]) for r in runs][1] == (
        "softmax", "skipped", "fashion-mnist is not here", None)
    assert summary["counts"] == {"finished": 2, "skipped": 1}
    assert ("fashion-mnist is not here: 1 experiment needs it; skipped (`d2l-lab data fetch "
            "fashion-mnist` gets it)") in " ".join(stderr.split())
    assert len(Store().recent(None)) == 2

    code, stdout, stderr = invoke("course", "--json")
    assert code == 1
    runs, _ = json_lines(stdout)
    assert [r["status"] for r in runs] == ["finished", "failed", "finished"]
    assert runs[1]["reason"].startswith("The dataset 'fashion-mnist' is not on this machine, "
                                        "and D2L_LAB_OFFLINE is set")
    assert "the first run that needs it downloads it" in " ".join(stderr.split())
