"""One line that says where a run is: state, epoch e/E, step s/S, examples/s, elapsed and ETA;
and, for a run the book makes too, a dim second line with the book's final numbers."""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.widgets import Static

from lab import reference
from lab.events import Ended, EpochEnd, Event, Progress, Started

STATE_STYLES = {
    "idle": ("○", "dim"),
    "starting": ("◌", "bold cyan"),
    "running": ("●", "bold cyan"),
    "stopping": ("◌", "bold yellow"),
    "finished": ("✓", "bold green"),
    "stopped": ("■", "bold yellow"),
    "interrupted": ("■", "bold yellow"),
    "diverged": ("✗", "bold magenta"),
    "failed": ("✗", "bold red"),
    "crashed": ("✗", "bold red"),  # its process vanished without recording an end
}


def clock(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def rate(per_sec: float) -> str:
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if per_sec >= size:
            value = per_sec / size
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return f"{per_sec:.0f}"


class RunStatus(Static):
    unit = "ex"  # what the throughput counts: "ex" (examples) or "tok" (tokens)
    attached: int | None = None  # the pid of the process running the run followed, if any

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._fit_pending = False
        self._clear("idle", "ctrl+r runs the selected experiment")

    def _clear(self, state: str, detail: str) -> None:
        self.state, self.detail = state, detail
        self.epoch = self.epochs = self.step = self.steps = 0
        self.per_sec = self.elapsed = 0.0
        self.book = ""  # the book's final numbers for the run shown ("" when it has none)

    def set_state(self, state: str, detail: str = "", *, fresh: bool = False) -> None:
        if fresh:
            self._clear(state, detail)
        self.state, self.detail = state, detail
        self._show()

    def set_attached(self, pid: int | None) -> None:
        """Say that the run shown is another process's, followed here (None: it is not)."""
        if pid != self.attached:
            self.attached = pid
            self._show()

    def add(self, event: Event) -> None:
        if isinstance(event, Started):
            self._clear("running", f"{event.experiment} on {event.device}")
            ref = reference.find(event.experiment, event.params)
            self.book = f"book: {ref.finals_text()}" if ref is not None and ref.final else ""
        elif isinstance(event, Progress):
            self.epoch, self.epochs, self.step, self.steps = (event.epoch, event.epochs,
                                                             event.step, event.steps)
            self.per_sec, self.elapsed = event.examples_per_sec, event.elapsed
            self.detail = ""
        elif isinstance(event, EpochEnd):
            self.epoch, self.epochs = event.epoch, event.epochs
            self.step = self.steps
            self.per_sec, self.elapsed = event.examples_per_sec, event.elapsed
        elif isinstance(event, Ended):
            self.state, self.detail, self.elapsed = event.status, event.reason, event.elapsed
        else:
            return
        self._show()

    @property
    def eta(self) -> float | None:
        if not self.epochs or not self.steps or self.state != "running":
            return None
        done = self.epoch - 1 + self.step / self.steps
        return self.elapsed / done * (self.epochs - done) if done > 0 else None

    def _show(self) -> None:
        # The line is built when drawn: a replayed run's thousands of events cost one build.
        # A layout only when its height changes: each layout also repaints every scroll bar on
        # screen (Textual's ScrollView does), a third of the bytes a run on screen wrote.
        self.refresh()
        if not self._fit_pending:
            self._fit_pending = True
            self.call_later(self._fit)

    def _fit(self) -> None:
        """After a batch of events: lay out again if the line now wraps to more or fewer rows
        (measured as the layout measures it; the visual is cached for the paint)."""
        self._fit_pending = False
        width, height = self.content_size
        if width and self.get_content_height(Size(0, 0), Size(0, 0), width) != height:
            self.refresh(layout=True)

    def render(self) -> Text:
        mark, style = STATE_STYLES.get(self.state, ("?", ""))
        # While running the mark says it all: the line must fit 52 columns (80x24 with catalog).
        label = mark if self.state == "running" else f"{mark} {self.state}"
        parts: list[tuple[str, str] | str] = [(label, style)]
        if self.attached:
            parts.append((f" attached · pid {self.attached}", "cyan"))
        if self.epochs:
            parts.append(f"{' ·' if self.attached else ''} epoch {self.epoch}/{self.epochs}")
        if self.steps and self.state != "finished":  # finished: every step, said by the mark
            parts.append(f" · step {self.step}/{self.steps}")
        if self.per_sec:
            parts.append(f" · {rate(self.per_sec)} {self.unit}/s")
        if self.elapsed:
            parts.append(f" · {clock(self.elapsed)}")
        eta = self.eta
        if eta is not None:
            parts.append(f" · ETA {clock(eta)}")
        if self.detail:
            parts.append((f" · {self.detail}", "dim"))
        if self.book:
            parts.append(("\n" + self.book, "dim"))
        return Text.assemble(*parts)
