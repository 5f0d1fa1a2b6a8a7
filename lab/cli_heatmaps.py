"""``d2l-lab runs heatmaps RUN``: a recorded run's heatmaps (attention weights, kernel weights,
positional encodings) drawn at the terminal's width, or written to files.

The heatmaps come from the run's events, the latest of each group and title, as the TUI shows
them. ``--csv DIR`` writes one CSV per heatmap (column labels in the first row, row labels in the
first column); ``--npy DIR`` one ``.npy`` matrix per heatmap with a ``.json`` of its labels.
Importing this module is cheap: typer and pathlib; the drawing is imported when it runs.
"""

from __future__ import annotations

import csv as csv_module
import itertools
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from lab.events import Heatmap

Writer = Callable[["Heatmap", Path, str], Path]

CLI_MAX_ZOOM = 2  # 4 columns × 2 lines a value, with the value written in it
MIN_CELL = 30  # columns given to each heatmap of a grid: room for its colour bar
GAP = 3  # columns between heatmaps side by side


def heatmaps_command(
    run: Annotated[str, typer.Argument(metavar="RUN", help="A run id, as `d2l-lab runs` lists.")],
    group: Annotated[str | None, typer.Option(
        metavar="GROUP", help="Only this group, e.g. 'encoder self-attention'.")] = None,
    csv: Annotated[Path | None, typer.Option(
        "--csv", metavar="DIR", help="Write one CSV per heatmap into DIR, with its labels.",
        file_okay=False)] = None,
    npy: Annotated[Path | None, typer.Option(
        "--npy", metavar="DIR", help="Write one .npy per heatmap into DIR, and a .json of its "
        "labels.", file_okay=False)] = None,
) -> None:
    """A run's heatmaps (attention weights, …) drawn in the terminal, or exported."""
    from rich.console import Console

    from lab.cli import usage_error
    from lab.heatmaps import RunHeatmaps
    from lab.store import Store, read_events

    store = Store()
    record = store.get(run)
    if record is None:
        raise usage_error(f"no run {run!r}; `d2l-lab runs` lists them")
    run_dir = store.run_dir(record.id)
    events = read_events(run_dir) if (run_dir / "events.jsonl").exists() else []
    heatmaps = RunHeatmaps(events)
    if not heatmaps.groups:
        raise usage_error(f"run {run} has no heatmaps: attention experiments record them "
                          "(the attention chapter)")
    if group is not None and group not in heatmaps.groups:
        known = ", ".join(repr(g) for g in heatmaps.groups)
        raise usage_error(f"run {run} has no heatmap group {group!r}; it has {known}")
    chosen = [h for h in heatmaps if group is None or h.group == group]
    out = Console()
    for folder, write in ((csv, write_csv), (npy, write_npy)):
        if folder is not None:
            written = export(chosen, folder, write)
            out.print(f"wrote {len(written)} heatmaps to {folder}", highlight=False)
            for path in written:
                out.print(f"  {path.name}", highlight=False)
    if csv is None and npy is None:
        print_heatmaps(chosen, out)


def print_heatmaps(heatmaps: Iterable[Heatmap], console: Console) -> None:
    """Each group under its name, its heatmaps side by side as many as fit the width, each at
    full size: tokens get whole cells (a label per row), long numbered axes half blocks."""
    from rich.text import Text

    from lab.heatmaps import HeatmapLayout, numeric_labels

    def layout(heatmap: Heatmap, width: int) -> HeatmapLayout:
        long_axis = len(heatmap.matrix) > 24 and numeric_labels(heatmap.rows)
        return HeatmapLayout(heatmap, width, max_zoom=0 if long_axis else CLI_MAX_ZOOM,
                             with_group=False)

    by_group: dict[str, list[Heatmap]] = {}
    for heatmap in heatmaps:
        by_group.setdefault(heatmap.group, []).append(heatmap)
    width = console.width
    for number, (group, members) in enumerate(by_group.items()):
        if number:
            console.print()
        console.print(f"[bold]{group}[/] · {len(members)} heatmap" + "s" * (len(members) > 1),
                      highlight=False)
        layouts = [layout(h, width) for h in members]
        cell = max(max(lay.x0 + lay.plan.cols * lay.cell_width for lay in layouts), MIN_CELL)
        per_row = min(max(1, (width + GAP) // (cell + GAP)), len(layouts))
        if per_row > 1:
            layouts = [layout(h, cell) for h in members]
        for start in range(0, len(layouts), per_row):
            if start:
                console.print()
            texts = [lay.text().split("\n") for lay in layouts[start:start + per_row]]
            for lines in itertools.zip_longest(*texts, fillvalue=Text()):
                for line in lines[:-1]:
                    line.set_length(cell)
                row = Text(" " * GAP).join(lines)
                row.no_wrap, row.overflow = True, "crop"
                console.print(row)


# -- export -----------------------------------------------------------------------------------

def file_stem(heatmap: Heatmap) -> str:
    """A file name from the group and title, in safe characters: "encoder-self-attention--
    layer-1-head-2"."""
    def safe(text: str) -> str:
        return re.sub(r"[^a-z0-9._]+", "-", text.lower()).strip("-.") or "heatmap"

    return f"{safe(heatmap.group)}--{safe(heatmap.title)}"


def export(heatmaps: Iterable[Heatmap], folder: Path, write: Writer) -> list[Path]:
    """``write(heatmap, folder, stem)`` for each heatmap, under a stem no other one has."""
    folder.mkdir(parents=True, exist_ok=True)
    written, taken = [], set()
    for heatmap in heatmaps:
        stem = base = file_stem(heatmap)
        suffix = 1
        while stem in taken:
            suffix += 1
            stem = f"{base}-{suffix}"
        taken.add(stem)
        written.append(write(heatmap, folder, stem))
    return written


def write_csv(heatmap: Heatmap, folder: Path, stem: str) -> Path:
    """The matrix with its labels: a header row of column labels (the corner holds the row
    axis's name, as pandas writes an index), then each row led by its label."""
    from lab.heatmaps import axis_labels

    path = folder / f"{stem}.csv"
    n, m = len(heatmap.matrix), len(heatmap.matrix[0]) if heatmap.matrix else 0
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv_module.writer(file)
        writer.writerow([heatmap.ylabel, *axis_labels(heatmap.cols, m)])
        for label, row in zip(axis_labels(heatmap.rows, n), heatmap.matrix, strict=True):
            writer.writerow([label, *map(repr, map(float, row))])
    return path


def write_npy(heatmap: Heatmap, folder: Path, stem: str) -> Path:
    """The matrix as float64 ``.npy``, and beside it a ``.json`` of what its axes are."""
    import numpy as np

    path = folder / f"{stem}.npy"
    np.save(path, np.asarray(heatmap.matrix, dtype=np.float64))
    labels = {"group": heatmap.group, "title": heatmap.title, "epoch": heatmap.epoch,
              "ylabel": heatmap.ylabel, "xlabel": heatmap.xlabel, "rows": heatmap.rows,
              "cols": heatmap.cols}
    (folder / f"{stem}.json").write_text(json.dumps(labels, ensure_ascii=False, indent=1) + "\n",
                                         encoding="utf-8")
    return path
