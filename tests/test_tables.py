"""The Table event: a demo's table survives the event log and is drawn alike by the CLI and
the TUI's run log."""

from __future__ import annotations

from rich.console import Console

from lab.events import Table, from_dict
from lab.tables import plain_lines, rich_table

TABLE = Table("after fillna", ["NumRooms", "Alley"], [["3.0", "Pave"], ["2.0", "NaN"]])


def test_a_table_round_trips_through_its_dict() -> None:
    back = from_dict(TABLE.to_dict())
    assert isinstance(back, Table) and back == TABLE


def test_plain_lines_align_the_columns() -> None:
    assert plain_lines(TABLE) == ["after fillna", "NumRooms Alley", "     3.0  Pave",
                                  "     2.0   NaN"]


def test_the_rich_table_shows_every_cell() -> None:
    console = Console(width=40, record=True, color_system=None)
    console.print(rich_table(TABLE))
    text = console.export_text()
    for cell in ("after fillna", "NumRooms", "Alley", "Pave", "NaN", "3.0", "2.0"):
        assert cell in text
