"""Charts as text: every plotext call of the project lives here, so the library can change.

The TUI's live plot and the CLI's end-of-run printout draw the same charts from the same data
(kept from a run's events by lab/plotdata.py). A chart is an ANSI string; its legend is Rich
text drawn by us above it: plotext's boxed legend covers the curves on an 80-column terminal.

plotext 6 keeps one global figure: build one chart at a time, start to end, on one thread. Its
quirks (6.1), found the hard way:
- a log ruler with explicit ticks is mis-scaled, and its automatic log ticks read 0.7943; so we
  plot log10(y) (and log10(x)) on a linear axis and write our own 1eN ticks;
- explicit ticks widen the axis to include them, so ticks must lie inside the data's range;
- a limit drops the points outside it (and so narrows the other axis): never clip data with one.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import plotext as plt
from rich.text import Text

from lab.events import Curve

Points = Sequence[tuple[float, float]]

# 256-colour palette indices: readable on dark and light backgrounds, and over plain SSH.
COLORS = {"loss": 75, "train_loss": 75, "train_acc": 170, "test_acc": 114}
EXTRA_COLORS = (214, 81, 204, 148, 141, 209)
BATCH_COLOR = 244
# Runs overlaid in one chart: the extra colours first, then the metrics' (one metric is shown).
RUN_COLORS = (*EXTRA_COLORS, 75, 170, 114)
FIXED_X_EPOCHS = 20  # up to this many epochs the x axis spans the whole run from the start
LABEL_MIN_HEIGHT = 8  # a shorter chart has no room for its x label under the axis


# -- legends ----------------------------------------------------------------------------------

def colors(names: Iterable[str]) -> dict[str, int]:
    """A colour per series, the same in a chart and its legend."""
    extra = itertools.cycle(EXTRA_COLORS)
    return {name: COLORS.get(name) or next(extra) for name in names}


def run_colors(names: Iterable[str]) -> dict[str, int]:
    """A colour per run of an overlay, distinct for up to ``len(RUN_COLORS)`` runs."""
    return dict(zip(names, itertools.cycle(RUN_COLORS)))


def metrics_legend(names: Iterable[str], *, batch: bool, title: str = "", note: str = "",
                   width: int | None = None, lines: int = 2, book: str = "") -> Text:
    """The series in their colours; ``book``: the label of the book's curves, drawn dim in their
    metric's colour (one entry for them all), if there are some."""
    items = [("┄ batch loss", BATCH_COLOR)] if batch else []
    items += [(f"━ {name.replace('_', ' ')}", color) for name, color in colors(names).items()]
    items += [(book, BOOK_COLOR)] if book else []
    return _legend(title, note, items, width, lines)


BOOK_COLOR = 246  # the legend entry of the book's curves, and the book's line in an overlay
BOOK = "book"  # the name of the book's curve among the runs of an overlay


def dim(color: int) -> int:
    """The same hue, darker: a 256-colour cube index with each of r, g, b at 60 %."""
    if not 16 <= color <= 231:
        return BATCH_COLOR
    r, g, b = ((color - 16) // 36, (color - 16) // 6 % 6, (color - 16) % 6)
    return 16 + 36 * round(r * 0.6) + 6 * round(g * 0.6) + round(b * 0.6)


DIM_COLOR = 240  # a figure's reference curves and contour lines, beneath its series
BACKGROUND = ("dim", "contour")  # Curve styles drawn dim, beneath, and not in the legend


def figure_legend(title: str, curves: Iterable[str | Curve], note: str = "", *,
                  width: int | None = None, lines: int = 2) -> Text:
    """A figure's series (names, or its curves) in their colours; dim and contour curves, drawn
    beneath as a reference, are left out, and curves drawn as points are marked so."""
    named = [c if isinstance(c, Curve) else Curve(title, c, [], []) for c in curves]
    named = [c for c in named if c.style not in BACKGROUND]
    palette = _figure_colors([c.series for c in named])
    items = [(f"{'━•' if c.style == 'points' else '━'} {c.series}", palette[c.series])
             for c in named]
    return _legend(title, note, items, width, lines)


def overlay_legend(names: Iterable[str], *, title: str = "", note: str = "",
                   empty: Iterable[str] = (), width: int | None = None, lines: int = 2) -> Text:
    """The runs of an overlay in their colours; those in ``empty`` have no points to draw. A
    series named ``BOOK`` is the book's curve, listed last in its own grey."""
    empty = set(empty)
    items = [(f"━ {name}" + (" (no epochs)" if name in empty else ""), color)
             for name, color in overlay_colors(names).items()]
    return _legend(title, note, items, width, lines)


def overlay_colors(names: Iterable[str]) -> dict[str, int]:
    """The runs' colours (as ``run_colors``), then the book's grey if it is one of them."""
    names = list(names)
    runs = run_colors(name for name in names if name != BOOK)
    return {**runs, BOOK: BOOK_COLOR} if BOOK in names else runs


def _legend(title: str, note: str, items: list[tuple[str, int]], width: int | None,
            most: int) -> Text:
    """The bold title and a dim note (which view this is), then the series, packed into at most
    ``most`` lines of ``width`` cells without splitting an entry; what does not fit is cut."""
    head = Text.assemble((title, "bold"), " " if title and note else "", (note, "dim"))
    parts = ([head] if head else []) + [Text(label, style=f"color({c})") for label, c in items]
    rows: list[list[Text]] = [[]]
    for part in parts:
        used = sum(p.cell_len + 2 for p in rows[-1])
        if width is not None and rows[-1] and used + part.cell_len > width:
            rows.append([])
        rows[-1].append(part)
    if len(rows) > most:
        rows[max(most, 1) - 1:] = [sum(rows[max(most, 1) - 1:], [])]
    lines = [Text("  ").join(row) for row in rows]
    for line in lines:
        if width is not None:
            line.truncate(width, overflow="ellipsis")
        line.no_wrap, line.overflow = True, "ellipsis"
    return Text("\n").join(lines)


# -- charts -----------------------------------------------------------------------------------

def metrics_chart(series: Mapping[str, Points], batch: Points, width: int, height: int, *,
                  epochs: int | None = None, log_loss: bool = False,
                  book: Mapping[str, Points] | None = None) -> str:
    """The book's training figure: per-epoch metrics against the epoch, over the faint per-batch
    loss; accuracies on a right axis from 0 to 1. Losses go on a log axis when the experiment
    asks (``log_loss``) or when they span three decades or more (linear regression: 30 → 1e-4).
    ``book``: the book's curves of the same metrics, drawn beneath in a dim shade of each
    metric's colour, over the epochs the axis shows."""
    # Two braille dots per column is all the screen shows; more only costs build time (a run
    # of 10,000 epochs redraws in 20 ms, not 500).
    most = 2 * width
    series = {name: thin(pts, most) for name, pts in ((n, _finite(p)) for n, p in series.items())
              if pts}
    batch = thin(_finite(batch), most)
    lo, hi = _epoch_range(series, batch, epochs)
    # A limit would drop the points past it and narrow the y axis: the book's are cut here.
    book = {name: thin(shown, most) for name, shown in (
        (name, [p for p in _finite(pts) if lo <= p[0] <= hi]) for name, pts in (book or {}).items())
        if shown}
    left = [y for _, y in batch]
    left += [y for name, pts in (*series.items(), *book.items()) if not _is_acc(name)
             for _, y in pts]
    log = _wants_log(left, log_loss)
    fig = _start(width, height, "epoch")
    if batch:
        _line(fig, batch, BATCH_COLOR, log=log)
    palette = colors([*series, *(name for name in book if name not in series)])
    for name, points in book.items():
        _line(fig, points, dim(palette[name]), log=log and not _is_acc(name),
              right=_is_acc(name))
    for name in series:
        acc = _is_acc(name)
        _line(fig, series[name], palette[name], log=log and not acc, right=acc)
    fig.ruler("x").lim(lo, hi)
    fig.ruler("x").ticks(*nice_ticks(lo, hi, _most_x(width)))
    if any(_is_acc(name) for name in (*series, *book)):
        fig.ruler("y", "right").lim(0, 1)
        fig.ruler("y", "right").ticks(*nice_ticks(0, 1, _most_y(height)))
    if left:
        _y_ticks(fig, left, log, height)
    return fig.build().string()


def figure_chart(curves: Iterable[Curve], width: int, height: int) -> str:
    """One figure: its curves as braille lines over round ticks, the x label under the axis, y on
    a log axis when a curve asks (``log_y``), x too (``log_x``); values ≤ 0 have no place on a
    log axis and are left out. Dim and contour curves are drawn first, in grey; curves of
    ``points`` get a dot at each point; where there are contour curves, their extent is the view
    and the other curves are cut at its edges."""
    curves = sorted(curves, key=lambda c: c.style not in BACKGROUND)  # stable: beneath first
    log_y = any(c.log_y for c in curves)
    log_x = any(c.log_x for c in curves)
    fig = _start(width, height, next((c.xlabel for c in curves if c.xlabel), ""))
    palette = _figure_colors([c.series for c in curves if c.style not in BACKGROUND])
    drawn = [(c, points) for c in curves if (points := _plotted(c, log_x, log_y))]
    frame = [p for c, points in drawn if c.style == "contour" for p in points]
    box = _extent(frame) if frame else None
    for curve, points in drawn:
        color = DIM_COLOR if curve.style in BACKGROUND else palette[curve.series]
        # plotext's limits cannot cut a line that runs far past them (a diverged optimiser's
        # 1e306 exhausts its memory): such a curve is cut here, into the pieces in view.
        cut = box is not None and curve.style != "contour"
        for piece in clip_polyline(points, box) if cut else [points]:
            # On a log axis the points crowd to the right: thinning runs of them by count would
            # make one point of Zipf's whole head, so there they are thinned by column.
            _line(fig, thin_columns(piece, 2 * width) if log_x else thin(piece, 2 * width), color,
                  log=False)
        if curve.style == "points":
            _dots(fig, [p for p in points if not cut or _holds(box, p)], color)
    every = frame or [p for _, points in drawn for p in points]
    if every:
        (x0, x1), (y0, y1) = box or _extent(every)
        if box:  # both limits, or plotext would narrow the other axis to what is left
            fig.ruler("x").lim(x0, x1)
            fig.ruler("y", "left").lim(y0, y1)
        if log_x:
            ticks = log_ticks(x0, x1, _most_x(width))
        else:
            integer = all(float(x).is_integer() for x, _ in every)
            ticks = nice_ticks(x0, x1, _most_x(width), integer=integer)
        fig.ruler("x").ticks(*ticks)
        _y_ticks(fig, [10 ** y0, 10 ** y1] if log_y else [y0, y1], log_y, height)
    return fig.build().string()


Box = tuple[tuple[float, float], tuple[float, float]]  # (x_lo, x_hi), (y_lo, y_hi)


def _plotted(curve: Curve, log_x: bool, log_y: bool) -> list[tuple[float, float]]:
    """A curve's points as drawn: finite, and as log10 on a log axis (where ≤ 0 is left out)."""
    points = [p for p in _finite(list(zip(curve.x, curve.y, strict=False)))
              if (p[1] > 0 or not log_y) and (p[0] > 0 or not log_x)]
    return [(math.log10(x) if log_x else x, math.log10(y) if log_y else y) for x, y in points]


def _extent(points: Points) -> Box:
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return (min(xs), max(xs)), (min(ys), max(ys))


def _holds(box: Box, point: tuple[float, float]) -> bool:
    return all(lo <= v <= hi for (lo, hi), v in zip(box, point, strict=True))


def clip_polyline(points: Points, box: Box) -> list[list[tuple[float, float]]]:
    """The pieces of a polyline inside ``box``, each cut exactly at its edges (Liang–Barsky,
    segment by segment); a lone point inside is a piece of its own."""
    if len(points) == 1:
        return [list(points)] if _holds(box, points[0]) else []
    pieces: list[list[tuple[float, float]]] = []
    for p, q in zip(points, points[1:], strict=False):
        segment = _clip_segment(p, q, box)
        if segment is None:
            continue
        if pieces and pieces[-1][-1] == segment[0]:
            pieces[-1].append(segment[1])
        else:
            pieces.append(list(segment))
    return pieces


def _clip_segment(p: tuple[float, float], q: tuple[float, float],
                  box: Box) -> tuple[tuple[float, float], tuple[float, float]] | None:
    t0, t1 = 0.0, 1.0
    delta = (q[0] - p[0], q[1] - p[1])
    if not all(map(math.isfinite, delta)):  # from −1e308 to 1e308: nothing drawable
        return None
    for axis, (lo, hi) in enumerate(box):
        for step, room in ((-delta[axis], p[axis] - lo), (delta[axis], hi - p[axis])):
            if step == 0:
                if room < 0:
                    return None
            elif step < 0:
                t0 = max(t0, room / step)
            else:
                t1 = min(t1, room / step)
    if t0 > t1:
        return None

    def at(t: float) -> tuple[float, float]:  # the ends themselves exactly: pieces join on them
        return p if t == 0 else q if t == 1 else (p[0] + t * delta[0], p[1] + t * delta[1])

    return at(t0), at(t1)


def _figure_colors(names: list[str]) -> dict[str, int]:
    """The series' colours, as ``colors`` gives them, or the runs' nine when there are more
    series than its six: an overlay of optimisers stays distinct."""
    return colors(names) if len(names) <= len(EXTRA_COLORS) else run_colors(names)


def _dots(fig: Any, points: Points, color: int) -> None:
    """A dot on every point (the iterates of an optimiser), over its line."""
    if points:
        xs, ys = zip(*points, strict=True)
        _draw(fig, fig.signal(list(xs), list(ys),
                              marker=plt.marker("dot", plt.pixel(foreground=color))))


def overlay_chart(curves: Mapping[str, Points], width: int, height: int, *, metric: str = "",
                  log: bool = False) -> str:
    """One metric of several runs against the epoch, a colour per run (as ``overlay_legend``
    gives them, in the same order). Runs may have different lengths; one without points is left
    out. A loss goes on a log axis when asked (``log``) or when it spans three decades;
    accuracies (by the ``metric`` name) never do. The curve named ``BOOK``, the book's, is
    drawn first, beneath the runs, over the epochs they span."""
    curves = {name: _finite(points) for name, points in curves.items()}
    palette = overlay_colors(curves)
    runs = {name: points for name, points in curves.items() if points and name != BOOK}
    xs = [x for points in runs.values() for x, _ in points]
    lo, hi = (min(xs), max(max(xs), min(xs) + 1)) if xs else (0.0, 0.0)  # one epoch: an axis
    book = [p for p in curves.get(BOOK, []) if lo <= p[0] <= hi] if runs else []
    drawn = {BOOK: book, **runs} if book else runs
    ys = [y for points in drawn.values() for _, y in points]
    log = not _is_acc(metric) and _wants_log(ys, log)
    fig = _start(width, height, "epoch")
    for name, points in drawn.items():
        _line(fig, thin(points, 2 * width), palette[name], log=log)
    if drawn:
        fig.ruler("x").lim(lo, hi)
        fig.ruler("x").ticks(*nice_ticks(lo, hi, _most_x(width), integer=True))
        _y_ticks(fig, ys, log, height)
    return fig.build().string()


def _start(width: int, height: int, xlabel: str) -> Any:
    fig = plt.figure
    fig.clear()  # one global figure: start from nothing each time
    fig.theme("simple")
    fig.plot_size(width, height)
    fig.axes(False, axis="x", side="upper")  # open at the top: the legend line sits right above
    if xlabel and height >= LABEL_MIN_HEIGHT:
        fig.label(xlabel, "x")
    return fig


def _line(fig: Any, points: Points, color: int, *, log: bool, right: bool = False) -> None:
    xs, ys = zip(*points, strict=True)
    marker = plt.marker("braille", plt.pixel(foreground=color))
    _draw(fig, fig.signal(list(xs), [math.log10(y) for y in ys] if log else list(ys),
                          marker=marker, yside="right" if right else "left").lines())


def _draw(fig: Any, signal: Any) -> None:
    """``fig.draw(signal)``, without its walk over every point in Python to mark the point's
    colour used by the automatic colour cycle (a third of a redraw): every signal here has its
    colour set. The same picture, to the byte (tests/test_charts.py)."""
    signal._get_unique_pixels = tuple  # an instance attribute: plotext's method is left alone
    fig.draw(signal)


def _y_ticks(fig: Any, values: list[float], log: bool, height: int) -> None:
    if log:
        logs = [math.log10(v) for v in values]
        ticks = log_ticks(min(logs), max(logs), _most_y(height))
    else:
        ticks = nice_ticks(min(values), max(values), _most_y(height))
    fig.ruler("y", "left").ticks(*ticks)


def _epoch_range(series: Mapping[str, Points], batch: Points,
                 epochs: int | None) -> tuple[float, float]:
    """The book's Animator fixes x to [1, epochs]; a long run's axis grows in nice steps
    instead, so its first epochs are not squeezed against the left edge."""
    lo = 0.0 if batch else 1.0
    span = float(epochs or 1)
    if span > FIXED_X_EPOCHS:
        last = [pts[-1][0] for pts in (batch, *series.values()) if pts]
        span = min(span, nice_ceil(max(last + [1.0]) * 1.2))
    return lo, max(span, lo + 1)


# -- ticks and data ---------------------------------------------------------------------------

def nice_ceil(value: float) -> float:
    """The smallest of 1, 2, 5 × 10^k that is at least ``value`` (> 0)."""
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def nice_ticks(lo: float, hi: float, most: int, *,
               integer: bool = False) -> tuple[list[float], list[str]]:
    """Ticks at the multiples of a 1-2-5 step inside [lo, hi] (-5 0 5, not -8 -3 2); a step of
    at least 1 for ``integer`` data (layer 1 2 3, not 1 1.5 2)."""
    if not hi > lo:
        return [lo], [f"{lo:g}"]
    step = max(nice_ceil((hi - lo) / max(most, 1)), 1 if integer else 0)
    slack = 0.01 * (hi - lo) / step  # tanh ends at -0.99999: still a tick at -1
    first = math.ceil(lo / step - slack)
    ticks = [i * step for i in range(first, math.floor(hi / step + slack) + 1)]
    return ticks, [f"{t:g}" for t in ticks]


def log_ticks(lo: float, hi: float, most: int) -> tuple[list[float], list[str]]:
    """Ticks for values plotted as log10, labelled 1eN: at every k-th power of ten inside
    [lo, hi]; when fewer than three powers fall inside, at 1, 2 and 5 × 10^N, or at 1..9 × 10^N
    (a loss from 0.8 to 0.6); when even those are fewer than two, at the nearest 1..9 × 10^N
    around [lo, hi] (which plotext then includes in the axis)."""
    def at(tick: tuple[int, int]) -> float:
        return tick[1] + math.log10(tick[0])

    def grid(mantissas: tuple[int, ...]) -> list[tuple[int, int]]:
        return [(m, p) for p in range(math.floor(lo) - 1, math.ceil(hi) + 2) for m in mantissas]

    eps = 1e-9 + 0.01 * (hi - lo)  # as in nice_ticks: an end a hair short still gets its tick
    powers = [t for t in grid((1,)) if lo - eps <= at(t) <= hi + eps]
    if len(powers) >= 3:  # every k-th power, counted from 1e0: 1e-6 1e-3 1e0, not 1e-5 1e-2
        step = math.ceil(len(powers) / max(most, 2))
        ticks = [t for t in powers if t[1] % step == 0]
        ticks = ticks if len(ticks) >= 2 else powers[::step]
    else:
        for fine in (grid((1, 2, 5)), grid(tuple(range(1, 10)))):
            ticks = [t for t in fine if lo - eps <= at(t) <= hi + eps]
            if len(ticks) >= 2:
                break
        else:
            below = max((t for t in fine if at(t) <= lo + eps), key=at)
            above = min((t for t in fine if at(t) >= hi - eps and at(t) > at(below) + eps),
                        key=at)
            ticks = [t for t in fine if at(below) - eps <= at(t) <= at(above) + eps]
        ticks = ticks[::math.ceil(len(ticks) / max(most, 2))]
    return [at(t) for t in ticks], [f"{m}e{p}" for m, p in ticks]


def thin(points: Points, most: int) -> Points:
    """At most ``most`` points: the means of runs of consecutive points."""
    size = math.ceil(len(points) / max(most, 1))
    if size <= 1:
        return points
    # Sums over slices of lists run in C: a 10,000-point series thins in a fraction of a ms.
    xs, ys = (list(map(operator.itemgetter(k), points)) for k in (0, 1))
    runs = ((xs[i:i + size], ys[i:i + size]) for i in range(0, len(points), size))
    return [(sum(x) / len(x), sum(y) / len(y)) for x, y in runs]


def thin_columns(points: Points, columns: int) -> Points:
    """Points that fall in the same of ``columns`` equal slices of the x range, one after
    another, become their mean: dense stretches thin out, sparse ones keep every point."""
    xs = [x for x, _ in points]
    lo, hi = min(xs), max(xs)
    if len(points) <= columns or not hi > lo:
        return thin(points, columns)
    slot = [min(int((x - lo) / (hi - lo) * columns), columns - 1) for x in xs]
    runs = [list(run) for _, run in itertools.groupby(range(len(points)), key=slot.__getitem__)]
    return [(sum(xs[i] for i in run) / len(run), sum(points[i][1] for i in run) / len(run))
            for run in runs]


def _finite(points: Points) -> Points:
    # A NaN or an infinity makes the sum of all coordinates one too: then look for them. (So
    # may finite ones near 1e308, which only cost the slow path.)
    if math.isfinite(sum(itertools.chain.from_iterable(points))):
        return points
    return [p for p in points if math.isfinite(p[0]) and math.isfinite(p[1])]


def _wants_log(values: list[float], forced: bool) -> bool:
    if not values or min(values) <= 0:
        return False
    return forced or math.log10(max(values)) - math.log10(min(values)) >= 3


def _is_acc(name: str) -> bool:
    return "acc" in name


def _most_x(width: int) -> int:
    return max(2, width // 9)


def _most_y(height: int) -> int:
    return max(3, (height - 3) // 3)  # a tick every third row: denser ones land unevenly
