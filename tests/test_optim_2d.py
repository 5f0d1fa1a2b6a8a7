"""Lecture 72's toy problems: every trajectory the book prints ends where it prints it, SGD's
noisy runs still go downhill, the optimiser list refuses what it cannot run, and the view
frames the book's box (cut where a run diverges)."""

from __future__ import annotations

import math

import pytest

from lab import catalog, runner
from lab.events import Curve, Event, Message
from lab.recipes.optim_2d import _schedule, contours, problem, trajectory, view
from lab.spec import ParamError

EXP = catalog.get("optim-2d")

# Every line the book prints for lecture 72's toy functions (LECTURES.md): a preset, what is set
# on top of it, and the lines, the book's after each optimiser's label.
BOOK_LINES = [
    ("gd-1d", {}, ["gd: epoch 10, x: 0.060466"]),
    ("gd-1d", {"gd_lr": 0.05}, ["gd: epoch 10, x: 3.486784"]),
    ("gd-1d", {"gd_lr": 1.1}, ["gd: epoch 10, x: 61.917364"]),
    ("gd-1d", {"problem": "cosh-1d", "optimizers": "newton"},  # tensor(0.)
     ["newton: epoch 10, x: 0.000000"]),
    ("nonconvex", {}, ["gd lr=2: epoch 10, x: -1.528166",
                       "newton: epoch 10, x: 26.834133",  # tensor(26.8341)
                       "newton lr=0.5: epoch 10, x: 7.269860"]),  # tensor(7.2699)
    ("gd-2d", {}, ["gd: epoch 20, x1: -0.057646, x2: -0.000073"]),
    ("book", {}, ["gd: epoch 20, x1: -0.943467, x2: -0.000073",
                  "momentum: epoch 20, x1: 0.007188, x2: 0.002553",
                  "adagrad: epoch 20, x1: -2.382563, x2: -0.158591",
                  "rmsprop: epoch 20, x1: -0.010599, x2: 0.000000"]),
    ("momentum", {}, ["gd lr=0.6: epoch 20, x1: -0.387814, x2: -1673.365109",
                      "momentum: epoch 20, x1: 0.007188, x2: 0.002553",
                      "momentum beta=0.25: epoch 20, x1: -0.126340, x2: -0.186632"]),
    ("adagrad", {}, ["adagrad: epoch 20, x1: -2.382563, x2: -0.158591",
                     "adagrad lr=2: epoch 20, x1: -0.002295, x2: -0.000000"]),
]


def run(preset: str = "book", seed: int = 0, **overrides: object) -> tuple[object, list[Event]]:
    events: list[Event] = []
    result = runner.run(EXP, EXP.resolve(preset, {k: str(v) for k, v in overrides.items()}),
                        sinks=[events.append], seed=seed)
    assert result.status == "finished", result.reason
    return result, events


def lines(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, Message) and e.level == "info"]


@pytest.mark.parametrize(("preset", "overrides", "expected"), BOOK_LINES,
                         ids=[f"{p}-{'-'.join(map(str, o.values()))}" for p, o, _ in BOOK_LINES])
def test_every_printed_trajectory_ends_where_the_book_prints(preset: str, overrides: dict,
                                                             expected: list[str]) -> None:
    _, events = run(preset, **overrides)
    assert lines(events) == expected


def test_newton_ends_where_the_book_prints_its_tensors() -> None:
    result, _ = run("nonconvex")
    assert (round(result.metrics["newton_x"], 4), round(result.metrics["newton_2_x"], 4)) == (
        26.8341, 7.2699)
    assert run("gd-1d", problem="cosh-1d", optimizers="newton")[0].metrics["newton_x"] == 0


@pytest.mark.parametrize("preset", ["book", "gd-2d", "momentum", "adagrad", "gd-1d", "nonconvex"])
def test_the_presets_state_the_values_they_reproduce(preset: str) -> None:
    result, _ = run(preset)
    for item in EXP.book_result[preset].split(" · "):
        name, value = item.split()
        decimals = len(value.partition(".")[2])  # as printed: 6, or a tensor's 4
        assert f"{result.metrics[name]:.{decimals}f}" == value, name


def test_sgd_is_noisy_but_goes_downhill_and_a_seed_repeats_it() -> None:
    start = 1 * 25 + 2 * 4  # x1² + 2·x2² at (−5, −2)
    first, _ = run("sgd", seed=3)
    again, _ = run("sgd", seed=3)
    other, _ = run("sgd", seed=4)
    assert first.metrics == again.metrics
    assert first.metrics != other.metrics
    for key in ("sgd", "sgd_3"):  # constant and polynomial learning rates
        x1, x2 = first.metrics[f"{key}_x1"], first.metrics[f"{key}_x2"]
        assert x1 * x1 + 2 * x2 * x2 < start / 20
    x1, x2 = first.metrics["sgd_2_x1"], first.metrics["sgd_2_x2"]
    assert start / 100 < x1 * x1 + 2 * x2 * x2 < start  # its lr shrinks so fast it stops early


def test_sgd_schedules_count_t_as_the_book_does() -> None:
    hp = {"decay": 0.1, "power": 0.5}
    assert _schedule({**hp, "schedule": "constant"}, 2) == 1
    assert _schedule({**hp, "schedule": "exponential"}, 2) == math.exp(-0.2)
    assert _schedule({**hp, "schedule": "polynomial"}, 2) == (1 + 0.2) ** -0.5
    noiseless = trajectory("sgd", {**hp, "schedule": "exponential", "lr": 0.1, "noise": 0.0},
                           problem(EXP.resolve("gd-2d")), (-5.0, -2.0), 1)
    assert noiseless[1][0] == -5 - 0.1 * math.exp(-0.2) * -10  # the first step uses t = 2


def test_every_optimiser_goes_downhill_on_the_bowl() -> None:
    result, events = run("all")
    f = problem(EXP.resolve("all")).f
    for key in ("gd", "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam"):
        end = (result.metrics[f"{key}_x1"], result.metrics[f"{key}_x2"])
        assert f(end) < f((-5.0, -2.0)), key
    assert f((result.metrics["adam_x1"], result.metrics["adam_x2"])) < 1


def test_a_run_that_overflows_stops_and_says_so() -> None:
    result, events = run("gd-1d", steps=2000, gd_lr=50)
    warning = next(e.text for e in events if isinstance(e, Message) and e.level == "warning")
    assert warning.startswith("gd: diverged after step ")
    assert "gd_x" not in result.metrics


@pytest.mark.parametrize(("text", "fault"), [
    ("gd, nope", "unknown optimiser 'nope': one of gd, sgd, momentum, nesterov, adagrad, "
                 "rmsprop, adadelta, adam, newton"),
    ("gd,", "an empty item"),
    ("momentum beta", "momentum takes lr=, beta=, not 'beta'"),
    ("momentum gamma=0.9", "momentum takes lr=, beta=, not 'gamma=0.9'"),
    ("adam lr=-1", "adam lr must be > 0, ≤ 100"),
    ("sgd schedule=cosine", "sgd schedule must be one of constant, exponential, polynomial"),
    ("gd, gd", "'gd' is given twice"),
])
def test_the_optimiser_list_refuses_what_it_cannot_run(text: str, fault: str) -> None:
    with pytest.raises(ParamError) as refused:
        EXP.resolve("book", {"optimizers": text})
    assert str(refused.value).startswith(f"optimizers: {fault} (got ")


def test_the_same_optimiser_twice_with_its_own_settings() -> None:
    params = EXP.resolve("book", {"optimizers": " momentum ,momentum   beta=0.25 lr=0.5"})
    result, events = run("book", optimizers=params.optimizers)
    assert [line.split(":")[0] for line in lines(events)] == [
        "momentum", "momentum beta=0.25 lr=0.5"]
    assert set(result.metrics) == {"momentum_x1", "momentum_x2", "momentum_2_x1",
                                   "momentum_2_x2"}


def figure(events: list[Event]) -> dict[str, Curve]:
    return {e.series: e for e in events if isinstance(e, Curve)}


def test_the_view_is_the_books_box_framed_by_contours() -> None:
    assert view((-5.0, -2.0), [[(-5.0, -2.0), (0.0, 0.0)]]) == (((-5.5, 1.0), (-3.0, 1.0)),
                                                                False)
    curves = figure(run("gd-2d")[1])
    rings = [c for c in curves.values() if c.style == "contour"]
    assert len(rings) >= 4 and curves["gd"].style == "points"
    assert [(c.x, c.y) for c in rings[-2:]] == [([-5.5], [-3.0]), ([1.0], [1.0])]  # corners
    xs = [x for c in rings for x in c.x]
    ys = [y for c in rings for y in c.y]
    assert (min(xs), max(xs), min(ys), max(ys)) == pytest.approx((-5.5, 1.0, -3.0, 1.0))
    for ring in rings[:-2]:  # each arc lies on its ellipse x1² + 2·x2² = level
        level = float(ring.series.split()[2])
        assert all(x * x + 2 * y * y == pytest.approx(level, rel=1e-2)
                   for x, y in zip(ring.x, ring.y, strict=True))


def test_a_diverging_path_widens_the_view_by_its_size_at_most_and_is_cut() -> None:
    _, events = run("momentum")
    warning = next(e.text for e in events if isinstance(e, Message) and e.level == "warning")
    assert warning == "a trajectory leaves the view: it is cut at the edge of [-5.5, 1] × [-7, 5]"
    ys = [y for c in figure(events).values() if c.style == "contour" for y in c.y]
    assert (min(ys), max(ys)) == pytest.approx((-7.0, 5.0))


def test_contours_of_a_box_that_holds_a_whole_ellipse_are_closed() -> None:
    arcs = contours((1.0, 1.0), ((-10.0, 10.0), (-10.0, 10.0)))
    first = arcs[0][1]
    assert arcs[0][0] == "f = 20" and first[0] == pytest.approx(first[-1])  # one closed ring
    cut = dict(contours((1.0, 1.0), ((-1.0, 10.0), (-10.0, 10.0))))
    # x1 = −1 cuts the circle of f = 20 once: one arc from edge to edge (the ring's seam, at
    # x1 > 0, joined), on the sampled polygon's chords
    edge = math.sqrt(19)
    assert "f = 20 (2)" not in cut
    assert cut["f = 20"][0] == pytest.approx((-1.0, -edge), rel=1e-3)
    assert cut["f = 20"][-1] == pytest.approx((-1.0, edge), rel=1e-3)
    assert "f = 120 (2)" in cut  # the corners cut the circle of f = 120 into two arcs
    assert all(x >= -1.0 - 1e-12 for arc in cut.values() for x, _ in arc)


def test_a_1d_view_is_the_function_and_the_iterates_on_it() -> None:
    curves = figure(run("nonconvex", optimizers="gd lr=2")[1])
    f, path = curves["f(x)"], curves["gd lr=2"]
    assert f.style == "contour" and path.style == "points" and len(path.x) == 11
    assert (min(f.x), max(f.x)) == pytest.approx((-10.0, 10.0))  # the book's ±max|x|
    c = 0.15 * math.pi
    assert path.y == pytest.approx([x * math.cos(c * x) for x in path.x])


def test_momentum_and_rmsprop_draw_the_books_weight_plots_once() -> None:
    """The book's extra plots of the momentum and RMSProp sections: β^t, (1 − ηλ)^t and
    (1 − γ)γ^t, drawn when a trajectory of that rule is (once for momentum and nesterov)."""
    def weight_figures(**overrides: object) -> dict[str, dict[str, Curve]]:
        figures: dict[str, dict[str, Curve]] = {}
        for e in run("book", **overrides)[1]:
            if isinstance(e, Curve) and e.xlabel == "time":
                assert e.series not in figures.setdefault(e.figure, {})  # drawn once
                figures[e.figure][e.series] = e
        return figures

    assert weight_figures(optimizers="gd, adagrad") == {}
    drawn = weight_figures(optimizers="momentum, nesterov, rmsprop")
    beta, decay, gamma = (next(v for k, v in drawn.items() if word in k)
                          for word in ("β^t", "ηλ", "γ)γ^t"))
    assert list(beta) == ["β = 0.95", "β = 0.90", "β = 0.60", "β = 0.00"]
    assert beta["β = 0.90"].x == list(range(40))
    assert beta["β = 0.90"].y[:3] == pytest.approx([1.0, 0.9, 0.81])
    assert beta["β = 0.00"].y[:2] == [1.0, 0.0]  # 0^0 = 1: the current gradient, whole
    assert list(decay) == ["λ = 0.1", "λ = 1", "λ = 10", "λ = 19"]
    assert decay["λ = 19"].y[:3] == pytest.approx([1.0, -0.9, 0.81])  # it oscillates
    assert len(decay["λ = 1"].x) == 20
    assert gamma["γ = 0.90"].y[:2] == pytest.approx([0.1, 0.09])
    assert sum(gamma["γ = 0.70"].y) == pytest.approx(1.0, abs=1e-6)  # weights sum to 1
