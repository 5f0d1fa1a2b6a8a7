"""Heatmaps as text (lab/heatmaps.py, lab/palette.py), a run's heatmaps, and `runs heatmaps`
(lab/cli_heatmaps.py): what fits, what colour a value gets, what the labels say, and files that
read back."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from typer.testing import CliRunner

from lab.cli_heatmaps import export, file_stem, heatmaps_command, write_csv, write_npy
from lab.events import Ended, EpochEnd, Heatmap, Started
from lab.heatmaps import HeatmapLayout, RunHeatmaps, downsample, render_heatmap
from lab.images import HALF_BLOCK
from lab.palette import BLUE_RED, VIRIDIS, lightness
from lab.store import EventLog, Store

TOKENS = ["i'm", "home", ".", "<eos>", "<pad>"]


def attention(n: int, m: int, seed: int = 0) -> list[list[float]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        scores = [math.exp(rng.gauss(0, 2)) for _ in range(m)]
        rows.append([s / sum(scores) for s in scores])
    return rows


def positions(n: int) -> list[str]:
    return [str(i) for i in range(n)]


def tokens_map(title: str = "layer 1, head 1", seed: int = 0, group: str = "encoder") -> Heatmap:
    return Heatmap(group, title, attention(5, 5, seed), TOKENS, TOKENS, epoch=2)


def encoding(n: int = 60, d: int = 32) -> Heatmap:
    matrix = [[math.sin(i / 10000 ** (j / d)) if j % 2 == 0
               else math.cos(i / 10000 ** ((j - 1) / d)) for j in range(d)] for i in range(n)]
    return Heatmap("positional encoding", "sin/cos", matrix, positions(n), positions(d),
                   "position", "dimension")


def cells(line) -> list[tuple[str, object]]:
    """A line of segments as one (character, style) per cell."""
    return [(char, segment.style) for segment in line for char in segment.text]


# -- colour scales ----------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [VIRIDIS, BLUE_RED])
def test_scales_use_fixed_palette_colours_and_lightness_runs_one_way(scale) -> None:
    assert all(16 <= c <= 255 for c in scale.colours)  # 0..15 follow the terminal's theme
    light = [lightness(c) for c in scale.colours]
    if scale.diverging:  # darker the further from zero, on both sides
        middle = len(light) // 2
        assert light[middle] == max(light)
        assert all(a < b for a, b in zip(light[:middle], light[1:middle + 1], strict=True))
        assert all(a > b for a, b in zip(light[middle:], light[middle + 1:], strict=False))
    else:  # lighter all the way up
        assert all(a < b for a, b in zip(light, light[1:], strict=False))
        assert light[-1] - light[0] > 50


def test_signed_data_gets_the_diverging_scale_with_zero_in_the_middle() -> None:
    layout = HeatmapLayout(Heatmap("g", "t", [[-0.5, 0.0, 1.0]], ["r"], ["a", "b", "c"]), 60, 12)
    assert layout.scale is BLUE_RED and (layout.lo, layout.hi) == (-1.0, 1.0)
    assert layout.colours[0][1] == BLUE_RED.colours[len(BLUE_RED.colours) // 2]
    weights = HeatmapLayout(tokens_map(), 60, 20)
    assert weights.scale is VIRIDIS
    assert HeatmapLayout(encoding(), 60, 20, scale="sequential").scale is VIRIDIS


# -- layout -----------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 70), m=st.integers(1, 70), width=st.integers(20, 140),
       height=st.integers(6, 50), seed=st.integers(0, 3), numeric=st.booleans())
def test_every_layout_fits_its_box(n, m, width, height, seed, numeric) -> None:
    words = ["the", "time", "machine", "<eos>", "traveller", "."]
    rows = positions(n) if numeric else [words[i % 6] for i in range(n)]
    cols = positions(m) if numeric else [words[(i + 2) % 6] for i in range(m)]
    heatmap = Heatmap("a long group name", "a long title", attention(n, m, seed), rows, cols,
                      epoch=12)
    layout = HeatmapLayout(heatmap, width, height)
    lines = layout.lines(cursor=(n // 2 * layout.plan.rows // n, 0))
    assert len(lines) == layout.height <= height
    assert all(sum(cell_len(s.text) for s in line) <= width for line in lines)
    text = render_heatmap(heatmap, width, height)
    assert len(text.plain.split("\n")) <= height
    assert max(cell_len(line) for line in text.plain.split("\n")) <= width


def test_few_tokens_get_whole_cells_with_every_label_and_value() -> None:
    heatmap = tokens_map()
    layout = HeatmapLayout(heatmap, 50, 14)  # a pane of about 50×15 less the status line
    assert layout.plan.zoom >= 1 and not layout.resampled
    plain = layout.text().plain
    assert plain.splitlines()[0] == "encoder · layer 1, head 1 · epoch 2"
    lines = plain.splitlines()
    for token in TOKENS:
        assert any(line.lstrip().startswith(token + " ") for line in lines[1:])  # row label
        assert token in "\n".join(lines[1 + layout.matrix_lines:])  # column label
    top = heatmap.matrix[0].index(max(heatmap.matrix[0]))
    if layout.annotations:  # the value is written in its cell
        assert f"{heatmap.matrix[0][top]:.2f}".lstrip("0") in plain
    assert "↓ queries → keys" in plain


@pytest.mark.parametrize("zoom", [1, 0])  # 2 columns a value, or 1 (labels touch)
def test_long_labels_are_written_down_when_there_is_room(zoom) -> None:
    words = ["translation", "attention", "weights"]
    heatmap = Heatmap("g", "t", attention(3, 3), words, words)
    layout = HeatmapLayout(heatmap, 40, 30, max_zoom=zoom)
    assert layout.plan.labels == "down"
    lines = layout.text().plain.splitlines()[1 + layout.matrix_lines:-1]
    down = ["".join(line[x] if len(line) > x else " " for line in lines).rstrip()
            for x in (layout.x0 + col * layout.cell_width for col in range(3))]
    assert down == ["trans…", "atten…", "weigh…"]


def test_the_max_cell_and_the_min_cell_are_drawn_in_their_colours() -> None:
    heatmap = tokens_map()
    layout = HeatmapLayout(heatmap, 50, 14)
    flat = [(v, r, c) for r, row in enumerate(heatmap.matrix) for c, v in enumerate(row)]
    (_, r_max, c_max), (_, r_min, c_min) = max(flat), min(flat)
    assert layout.colours[r_max][c_max] == VIRIDIS.colours[-1]
    assert layout.colours[r_min][c_min] == VIRIDIS.colours[0]
    k, w = layout.plan.zoom, layout.cell_width
    for r, c in ((r_max, c_max), (r_min, c_min)):
        line = cells(layout.line(1 + r * k))
        assert line[layout.x0 + c * w][1].bgcolor.number == layout.colours[r][c]


def test_half_blocks_show_the_upper_value_in_front_and_the_lower_behind() -> None:
    heatmap = Heatmap("g", "t", attention(40, 40), positions(40), positions(40))
    layout = HeatmapLayout(heatmap, 60, 24)
    assert layout.plan.zoom == 0 and not layout.resampled
    for y in (0, 7, 19):
        line = cells(layout.line(1 + y))
        for c in (0, 13, 39):
            char, style = line[layout.x0 + c]
            assert char == HALF_BLOCK
            assert style.color.number == layout.colours[2 * y][c]
            assert style.bgcolor.number == layout.colours[2 * y + 1][c]


def test_a_large_matrix_is_averaged_down_square_and_says_so() -> None:
    heatmap = Heatmap("g", "t", attention(64, 64), positions(64), positions(64))
    layout = HeatmapLayout(heatmap, 50, 14)
    assert layout.resampled and layout.plan.rows == layout.plan.cols  # square pixels
    mean = sum(map(sum, heatmap.matrix)) / 64**2
    shown = sum(map(sum, layout.values)) / (layout.plan.rows * layout.plan.cols)
    assert shown == pytest.approx(mean, rel=1e-9)
    assert "averaged" in layout.text().plain
    assert not HeatmapLayout(heatmap, 140).resampled  # the CLI: any height


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), m=st.integers(1, 40), data=st.data())
def test_downsampling_keeps_the_mean(n, m, data) -> None:
    rows, cols = data.draw(st.integers(1, n)), data.draw(st.integers(1, m))
    rng = random.Random(n * 100 + m)
    matrix = [[rng.uniform(-3, 5) for _ in range(m)] for _ in range(n)]
    small = downsample(matrix, rows, cols)
    assert (len(small), len(small[0])) == (rows, cols)
    assert sum(map(sum, small)) / (rows * cols) == pytest.approx(
        sum(map(sum, matrix)) / (n * m), abs=1e-9)


def test_downsampling_by_a_whole_factor_averages_blocks() -> None:
    assert downsample([[1, 3, 5, 7], [1, 3, 5, 7]], 1, 2) == [[2.0, 6.0]]


def test_the_cursor_reads_the_value_under_it_and_marks_its_labels() -> None:
    heatmap = tokens_map()
    layout = HeatmapLayout(heatmap, 50, 14)
    assert layout.describe(1, 3) == f"home → <eos>: {heatmap.matrix[1][3]:.4g}"
    k, w = layout.plan.zoom, layout.cell_width
    assert layout.cell_at(layout.x0 + 3 * w, 1 + 1 * k) == (1, 3)
    assert layout.cell_at(0, 1) is None  # the labels are no cell
    marked = layout.line(1 + k * 1 + (k - 1) // 2, cursor=(1, 3))
    assert any(s.text == "home" and s.style.reverse for s in marked)
    big = HeatmapLayout(Heatmap("g", "t", attention(64, 64), positions(64), positions(64)),
                        50, 14)
    assert big.describe(0, 0).startswith("0–")  # an averaged cell names its rows
    assert "mean" in big.describe(0, 0)


def test_nan_and_empty_matrices_draw() -> None:
    layout = HeatmapLayout(Heatmap("g", "t", [[math.nan, 1.0], [2.0, math.inf]], ["a", "b"],
                                   ["c", "d"]), 40, 12)
    assert layout.colours[0][0] is None and layout.describe(0, 0) == "a → c: nan"
    assert "·" in layout.text().plain
    assert HeatmapLayout(Heatmap("g", "t", [], [], []), 40, 12).text().plain.startswith("g · t")


# -- a run's heatmaps -------------------------------------------------------------------------

def test_run_heatmaps_group_by_group_and_title_and_a_later_one_replaces() -> None:
    data = RunHeatmaps()
    assert not data.add(EpochEnd(1, 2, {"loss": 1.0}, 10.0, 1.0))
    first, second = tokens_map("head 1", seed=1), tokens_map("head 2", seed=2)
    for event in (first, second, tokens_map("head 1", seed=1, group="decoder")):
        assert data.add(event)
    newer = tokens_map("head 1", seed=3)
    data.add(newer)
    assert list(data.groups) == ["encoder", "decoder"]
    assert data.titles("encoder") == ["head 1", "head 2"]  # first appearance order kept
    assert data.get("encoder", "head 1") is newer and len(data) == 3
    assert [h.title for h in data] == ["head 1", "head 2", "head 1"]


# -- export and the command -------------------------------------------------------------------

def test_csv_and_npy_files_read_back(tmp_path: Path) -> None:
    heatmap = tokens_map()
    path = write_csv(heatmap, tmp_path, file_stem(heatmap))
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["queries", *TOKENS]
    assert [row[0] for row in rows[1:]] == TOKENS
    assert [[float(v) for v in row[1:]] for row in rows[1:]] == heatmap.matrix  # exactly
    path = write_npy(heatmap, tmp_path, file_stem(heatmap))
    assert np.array_equal(np.load(path), np.array(heatmap.matrix))
    labels = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert (labels["rows"], labels["cols"], labels["title"]) == (TOKENS, TOKENS, heatmap.title)


def test_file_names_are_safe_and_distinct(tmp_path: Path) -> None:
    a = Heatmap("encoder self-attention", "layer 1, head 2", [[1.0]], ["x"], ["y"])
    b = Heatmap("encoder/self attention", "layer 1: head 2", [[2.0]], ["x"], ["y"])
    assert file_stem(a) == "encoder-self-attention--layer-1-head-2"
    written = export([a, b], tmp_path / "out", write_csv)
    assert [p.name for p in written] == ["encoder-self-attention--layer-1-head-2.csv",
                                         "encoder-self-attention--layer-1-head-2-2.csv"]


def record_run(run_id: str, events: list) -> None:
    store = Store()
    store.record(run_id, Started(run_id, "transformer", {}, "cpu", 0))
    store.run_dir(run_id).mkdir(parents=True)
    log = EventLog(store.run_dir(run_id) / "events.jsonl")
    for event in events:
        log(event)
    log.close()
    store.record(run_id, Ended("finished"))


def invoke(*args: str):
    app = typer.Typer()
    app.command()(heatmaps_command)
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "100"})


def test_the_command_prints_every_heatmap_of_a_group() -> None:
    record_run("r1", [tokens_map("head 1", 1), tokens_map("head 2", 2), encoding()])
    result = invoke("r1")
    assert result.exit_code == 0, result.output
    for text in ("encoder · 2 heatmaps", "head 1 · epoch 2", "head 2 · epoch 2",
                 "positional encoding · 1 heatmap", "sin/cos", "<eos>"):
        assert text in result.output
    only = invoke("r1", "--group", "encoder")
    assert "head 2" in only.output and "sin/cos" not in only.output


def test_the_command_exports(tmp_path: Path) -> None:
    record_run("r1", [tokens_map("head 1", 1), tokens_map("head 1", 5), encoding()])
    result = invoke("r1", "--csv", str(tmp_path / "csv"), "--npy", str(tmp_path / "npy"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == [
        "encoder--head-1.csv", "positional-encoding--sin-cos.csv"]
    assert len(list((tmp_path / "npy").glob("*.json"))) == 2
    latest = np.load(tmp_path / "npy" / "encoder--head-1.npy")
    assert np.array_equal(latest, np.array(tokens_map("head 1", 5).matrix))  # the later one


def test_the_command_says_what_is_wrong() -> None:
    unknown = invoke("nope")
    assert unknown.exit_code == 2 and "no run 'nope'" in unknown.output
    record_run("plain", [EpochEnd(1, 1, {"loss": 0.5}, 100.0, 1.0)])
    none = invoke("plain")
    assert none.exit_code == 2 and "has no heatmaps" in none.output
    record_run("r1", [tokens_map()])
    group = invoke("r1", "--group", "decoder")
    assert group.exit_code == 2 and "'encoder'" in group.output
