"""The live plot: every plotting-library call of the TUI lives in this file.

plotext 6 keeps one global figure, so figures are built here, one at a time, on the UI thread,
from data cached by ``add``; a timer rebuilds at most ~4 times a second and only when the data or
the size changed. The legend is drawn by us as one Rich line above the figure: plotext's boxed
legend would cover the curves on an 80-column terminal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import plotext as plt
from rich.text import Text
from textual.widget import Widget

from lab.events import Curve, EpochEnd, Event, Progress, Started

# 256-colour palette indices: readable on dark and light backgrounds, and over plain SSH.
COLORS = {"loss": 75, "train_loss": 75, "train_acc": 170, "test_acc": 114}
EXTRA_COLORS = (214, 81, 204, 148, 141, 209)
BATCH_COLOR = 244
FIXED_X_EPOCHS = 20  # up to this many epochs the x axis spans the whole run from the start
MAX_BATCH_POINTS = 4096  # past this, halve the per-batch line by averaging neighbours


class Decimated:
    """A growing (x, y) series kept under a bound by averaging: old points stay, coarser."""

    def __init__(self, limit: int = MAX_BATCH_POINTS) -> None:
        self.limit, self.stride = limit, 1
        self.points: list[tuple[float, float]] = []
        self._acc: list[tuple[float, float]] = []

    def append(self, x: float, y: float) -> None:
        self._acc.append((x, y))
        if len(self._acc) < self.stride:
            return
        n = len(self._acc)
        self.points.append((sum(p[0] for p in self._acc) / n, sum(p[1] for p in self._acc) / n))
        self._acc.clear()
        if len(self.points) >= self.limit:
            pairs = zip(self.points[0::2], self.points[1::2], strict=False)
            self.points = [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in pairs]
            self.stride *= 2

    def __len__(self) -> int:
        return len(self.points)


class LivePlot(Widget):
    """Per-epoch metrics (x = epoch, like the book's Animator) over a faint per-batch loss, or
    the curves of a demo."""

    DEFAULT_CSS = "LivePlot { height: 1fr; min-height: 6; text-wrap: nowrap; text-overflow: clip; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.reset()
        self._built_size = (0, 0)

    def reset(self, epochs: int | None = None, *, waiting: bool = False) -> None:
        """Forget all data; ``epochs`` fixes the x range, so the plot does not rescale;
        ``waiting``: a run is starting, so say so instead of "no data"."""
        self.waiting = waiting
        self.series: dict[str, list[tuple[float, float]]] = {}  # metric -> (epoch, value)
        self.batch = Decimated()
        self.curves: dict[str, tuple[list[float], list[float]]] = {}
        self.figure = ""
        self.epochs = epochs
        self.rendered = Text()
        self._dirty = True

    def on_mount(self) -> None:
        self.set_interval(0.25, self._tick)

    # -- data ---------------------------------------------------------------------------------

    def add(self, event: Event) -> None:
        if isinstance(event, Started):
            self.reset(epochs=_int(event.params.get("epochs")), waiting=True)
        elif isinstance(event, Progress):
            self.epochs = event.epochs
            n = len(event.losses)
            for i, loss in enumerate(event.losses):
                step = max(event.step - n + i + 1, 0)
                if math.isfinite(loss):
                    self.batch.append(event.epoch - 1 + step / event.steps, loss)
        elif isinstance(event, EpochEnd):
            self.epochs = event.epochs
            for name, value in event.metrics.items():
                if math.isfinite(value):
                    self.series.setdefault(name, []).append((float(event.epoch), value))
        elif isinstance(event, Curve):
            if event.figure != self.figure:
                self.figure, self.curves = event.figure, {}
            self.curves[event.series] = (list(event.x), list(event.y))
        else:
            return
        self._dirty = True

    @property
    def has_data(self) -> bool:
        return bool(self.series or self.batch or self.curves)

    # -- drawing ------------------------------------------------------------------------------

    def _tick(self) -> None:
        size = (self.content_region.width, self.content_region.height)
        if self._dirty or size != self._built_size:
            self.redraw()

    def redraw(self) -> None:
        """Build the figure now (tests call this instead of waiting for the timer)."""
        self._built_size = (self.content_region.width, self.content_region.height)
        width, height = self._built_size
        self._dirty = False
        if not self.has_data or width < 20 or height < 4:
            idle = "waiting for the first batch…" if self.waiting else "no data yet · ctrl+r runs"
            self.rendered = Text(idle, style="dim")
        else:
            legend = self._legend()
            try:
                body = Text.from_ansi(self._build(width, height - 1))
            except Exception as err:  # a plotting bug must not take the lab (or a run) down
                body = Text(f"cannot draw this data: {type(err).__name__}: {err}", style="red")
            self.rendered = Text.assemble(legend, "\n", body, no_wrap=True, overflow="crop")
        self.refresh()

    def render(self) -> Text:
        return self.rendered

    def _x_range(self) -> tuple[float, float]:
        """The book's Animator fixes x to [1, epochs]; a long run's axis grows in nice steps
        instead, so its first epochs are not squeezed against the left edge."""
        lo = 0.0 if self.batch else 1.0
        epochs = float(self.epochs or 1)
        if epochs > FIXED_X_EPOCHS:
            xs = [x for x, _ in self.batch.points[-1:]]
            xs += [pts[-1][0] for pts in self.series.values() if pts]
            epochs = min(epochs, _nice_ceil(max(xs + [1.0]) * 1.2))
        return lo, max(epochs, lo + 1)

    def _colors(self, names: list[str]) -> dict[str, int]:
        extra = iter(EXTRA_COLORS * 4)
        return {name: COLORS.get(name) or next(extra) for name in names}

    def _legend(self) -> Text:
        if self.curves:
            colors = self._colors(list(self.curves))
            parts: list[Text | str] = [Text(f"{self.figure}  ", style="bold")]
        else:
            colors = self._colors(list(self.series))
            parts = []
            if self.batch:
                parts += [Text("┄ batch loss  ", style=f"color({BATCH_COLOR})")]
        for name, color in colors.items():
            parts.append(Text(f"━ {name.replace('_', ' ')}  ", style=f"color({color})"))
        if not self.curves:
            parts.append(Text("x: epoch", style="dim"))  # last: the first thing cropped
        return Text.assemble(*parts, no_wrap=True, overflow="ellipsis")

    def _build(self, width: int, height: int) -> str:
        fig = plt.figure
        fig.clear()  # one global figure: start from nothing each time
        fig.theme("simple")
        fig.plot_size(width, height)
        if self.curves:
            for name, color in self._colors(list(self.curves)).items():
                xs, ys = self.curves[name]
                fig.draw(fig.signal(xs, ys, marker=_marker("braille", color)).lines())
            lo = min(min(xs) for xs, _ in self.curves.values())
            hi = max(max(xs) for xs, _ in self.curves.values())
            fig.ruler("x").ticks(*_nice_ticks(lo, hi, max(2, width // 9)))
            return fig.build().string()
        left = [y for _, y in self.batch.points]
        left += [y for name, pts in self.series.items() if "acc" not in name for _, y in pts]
        scale = _log_axis(left)
        if self.batch:
            # Two braille dots per column is all the screen shows; more only costs build time.
            xs, ys = zip(*_thin(self.batch.points, 2 * width), strict=True)
            fig.draw(fig.signal(list(xs), scale(ys), marker=_marker("braille", BATCH_COLOR))
                     .lines())
        has_acc = False
        for name, color in self._colors(list(self.series)).items():
            xs, ys = zip(*self.series[name], strict=True)
            acc = "acc" in name
            has_acc |= acc
            fig.draw(fig.signal(list(xs), list(ys) if acc else scale(ys),
                                marker=_marker("braille", color), yside="right" if acc else "left")
                     .lines())
        lo, hi = self._x_range()
        fig.ruler("x").lim(lo, hi)
        fig.ruler("x").ticks(*_nice_ticks(lo, hi, max(2, width // 9)))
        if has_acc:
            fig.ruler("y", "right").lim(0, 1)
        if scale is not _identity:
            lo, hi = math.floor(min(scale(left))), math.ceil(max(scale(left)))
            powers = list(range(lo, hi + 1, max(1, (hi - lo) // 4)))
            fig.ruler("y", "left").ticks(powers, [f"1e{p}" for p in powers])
        return fig.build().string()


def _thin(points: list[tuple[float, float]], most: int) -> list[tuple[float, float]]:
    """At most ``most`` points: the means of runs of consecutive points."""
    size = math.ceil(len(points) / most)
    if size <= 1:
        return points
    chunks = (points[i:i + size] for i in range(0, len(points), size))
    return [(sum(p[0] for p in c) / len(c), sum(p[1] for p in c) / len(c)) for c in chunks]


def _nice_ceil(value: float) -> float:
    """The smallest of 1, 2, 5 × 10^k that is at least ``value``."""
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def _nice_ticks(lo: float, hi: float, most: int) -> tuple[list[float], list[str]]:
    """Ticks at the multiples of a 1-2-5 step inside [lo, hi] (-5 0 5, not -8 -3 2)."""
    step = _nice_ceil((hi - lo) / most)
    first = math.ceil(lo / step - 1e-9)
    ticks = [i * step for i in range(first, math.floor(hi / step + 1e-9) + 1)]
    return ticks, [f"{t:g}" for t in ticks]


def _marker(symbol: str, color: int) -> plt.marker:
    return plt.marker(symbol, plt.pixel(foreground=color))


def _identity(values: Sequence[float]) -> list[float]:
    return list(values)


def _log10(values: Sequence[float]) -> list[float]:
    return [math.log10(v) for v in values]


def _log_axis(values: list[float]) -> Callable[[Sequence[float]], list[float]]:
    """A loss falling over decades (linear regression: 30 → 1e-4) reads best on a log axis.
    We plot log10 on a linear axis with our own 1eN ticks: plotext 6.1 mis-scales a log ruler
    that has explicit ticks, and its automatic log ticks read 0.7943."""
    if not values or min(values) <= 0:
        return _identity
    return _log10 if math.log10(max(values)) - math.log10(min(values)) >= 3 else _identity


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
