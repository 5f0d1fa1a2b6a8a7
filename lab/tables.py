"""A Table event drawn for a terminal: a Rich table (the CLI prints it, the TUI's log writes
it) and its plain lines (what the log keeps as text, for tests and copying)."""

from __future__ import annotations

from rich import box
from rich.table import Table as RichTable

from lab.events import Table


def rich_table(table: Table) -> RichTable:
    out = RichTable(title=table.title, title_justify="left", title_style="bold",
                    box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in table.columns:
        out.add_column(name, justify="right", no_wrap=False)
    for row in table.rows:
        out.add_row(*row)
    return out


def plain_lines(table: Table) -> list[str]:
    """The title, then the header and each row with columns padded to a common width."""
    widths = [max(len(cell) for cell in column)
              for column in zip(table.columns, *table.rows, strict=True)]
    lines = [" ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True))
             for row in (table.columns, *table.rows)]
    return [table.title, *lines] if table.title else lines
