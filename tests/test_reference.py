"""The book's reference shipped with the lab: every entry lands on an experiment and variant of
the catalog, every book result has one, and it is what lab/book_runs.py builds from the book's
figures (when ../shared has them)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from lab import book_runs, catalog, reference

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
IDS = {exp.id for exp in catalog.experiments()}
NUMBER = re.compile(r"([a-z][a-z0-9_]*) (-?\d+(?:\.\d+)?(?:e-?\d+)?)")


def test_every_reference_is_an_experiment_and_variant_of_the_catalog() -> None:
    for ref in reference.all_references():
        assert ref.experiment in IDS, f"{ref.experiment} is not in the catalog"
        exp = catalog.get(ref.experiment)
        for name, value in ref.variant.items():
            assert exp.param(name).parse(value) == value, (exp.id, name)
        settings = ref.settings(exp)  # its preset exists and the variant is valid in it
        assert ref.matches(settings)
        # Its variant picks it, and only it, among the experiment's book runs.
        assert reference.find(exp.id, settings) is ref, (exp.id, dict(ref.variant))
        assert ref.final and ref.epochs > 0


def book_numbers(text: str) -> dict[str, str]:
    return dict(NUMBER.findall(text))


def test_every_book_result_of_the_catalog_has_its_reference() -> None:
    """Each preset's book_result ("test_acc 0.776") is the reference's final number, to the
    digits it shows; demos whose result is an exact output need none."""
    checked = 0
    for exp in catalog.experiments():
        for preset, text in exp.book_result.items():
            numbers = book_numbers(text)
            if not numbers or (exp.demo and not reference.references(exp.id)):
                continue
            ref = reference.find(exp.id, exp.resolve(preset))
            assert ref is not None, f"{exp.id} ({preset}): no reference for {text!r}"
            for name, shown in numbers.items():
                unit = 10.0 ** -len(shown.partition(".")[2]) if "e" not in shown else 0.0
                assert ref.final[name] == pytest.approx(float(shown), rel=1e-2, abs=unit), (
                    exp.id, preset, name)
                checked += 1
    assert checked >= 40


def test_every_experiment_with_a_book_result_in_lectures_has_a_reference() -> None:
    lectures = SHARED / "LECTURES.md"
    if not lectures.is_file():
        pytest.skip("../shared/LECTURES.md is not here")
    summary = lectures.read_text(encoding="utf-8").split("## 3.")[0]
    wanted = set()
    for row in summary.splitlines():
        cells = row.split("|")
        if len(cells) > 6 and re.search(r"printed|read from plot", cells[6]):
            # "`init-stability` (demo)", "demo `activations`": the book trains nothing there.
            wanted |= {i for before, i, after in re.findall(
                r"(demo )?`([a-z0-9-]+)`( \(demo\))?", cells[2])
                       if i in IDS and not before and not after and not catalog.get(i).demo}
    assert {"lenet", "softmax", "house-prices", "rnn", "transformer"} <= wanted
    missing = sorted(i for i in wanted if not reference.references(i))
    assert not missing, f"no book reference for {missing}"


def test_the_shipped_reference_is_what_the_table_builds_from_the_books_figures() -> None:
    source = SHARED / "book_curves.json"
    if not source.is_file():
        pytest.skip("../shared/book_curves.json is not here")
    data = json.loads(source.read_text(encoding="utf-8"))
    shipped = json.loads(reference.REFERENCE_FILE.read_text(encoding="utf-8"))
    assert shipped == book_runs.build(data)
    assert reference.source() == data["source"]  # the provenance line is kept
    assert set(book_runs.RUNS) == set(data["experiments"])  # every book run is placed


def test_lenets_reference_is_the_books_printed_run() -> None:
    ref = reference.find("lenet", catalog.get("lenet").resolve())
    assert ref is not None and ref.book == ("lenet",)
    assert dict(ref.final) == {"train_loss": 0.469, "train_acc": 0.824, "test_acc": 0.776}
    assert ref.finals_text() == "loss 0.469 · train 0.824 · test 0.776"
    # Whole epochs only (the book's points between are running means within an epoch).
    assert [x for x, _ in ref.series["test_acc"]] == [float(e) for e in range(1, 11)]
    assert ref.at("train_loss", 10) == pytest.approx(0.46876)
    assert ref.around("test_acc", 1) == [0.1, 0.5827]
    assert ref.around("test_acc", 11) == []


def test_a_variant_picks_its_run_and_settings_name_what_differs() -> None:
    exp = catalog.get("weight-decay")
    decay = reference.find(exp.id, exp.resolve("decay", {"impl": "concise"}))
    assert decay is not None and decay.book == ("weight-decay/concise-wd3",)
    assert decay.final["w_norm"] == pytest.approx(0.3854, abs=1e-4)
    assert reference.find("polyfit", catalog.get("polyfit").resolve("book", {"degree": 7})) is None
    overfit = reference.find("polyfit", catalog.get("polyfit").resolve("overfit"))
    assert overfit is not None and overfit.settings(catalog.get("polyfit"))["epochs"] == 1500
    softmax = catalog.get("softmax")
    ref = reference.find(softmax.id, softmax.resolve())
    assert ref is not None
    assert ref.differences(softmax, softmax.resolve("book", {"lr": 0.01, "epochs": 3})) == {
        "lr": (0.01, 0.1)}  # epochs do not change the curve up to them


def test_show_lists_the_books_results_and_where_they_come_from() -> None:
    from typer.testing import CliRunner

    from lab.cli import app

    result = CliRunner().invoke(app, ["show", "dropout"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = result.output
    assert "The book's results" in text
    assert "impl=scratch: loss 0.349 · train 0.872 · test 0.864" in text
    assert "impl=concise: loss 0.349 · train 0.872 · test 0.839" in text
    assert "one unseeded run of the English edition" in text and "V100" in text
    assert "The book's results" not in CliRunner().invoke(app, ["show", "activations"]).output


def test_the_reference_ships_with_the_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["lab"]
    assert any(Path(reference.REFERENCE_FILE.name).match(p) for p in patterns)
    assert reference.REFERENCE_FILE.parent == ROOT / "lab"


def test_book_values_read_as_the_book_prints_them() -> None:
    assert reference.number(0.469, printed=True) == "0.469"
    assert reference.number(1.0, printed=True) == "1.0"
    assert reference.number(0.44755) == "0.448"
    assert reference.number(98.371) == "98.4"
    assert reference.number(3.2845e-05) == "3.28e-05"
