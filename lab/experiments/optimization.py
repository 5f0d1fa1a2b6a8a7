"""Lecture 72: optimisation algorithms, on the book's toy functions and on the airfoil data.

Both experiments take a list of optimisers to run side by side, as one line of text:
``gd, momentum beta=0.25, adam lr=0.1``. Each item names an optimiser and may set any of its
hyperparameters for itself; what it leaves out comes from the form's fields (the book's values),
so the same optimiser can be overlaid with two settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

from lab.experiments.common import OPTIMIZATION, batch_size, epochs, impl
from lab.spec import Experiment, Param, ParamError, Params, Value

# optimiser -> its settings: the key an item writes -> the Param that holds its default and rule
Table = Mapping[str, Mapping[str, Param]]


@dataclass(frozen=True)
class Entry:
    """One item of an optimiser list."""

    name: str  # the optimiser
    given: dict[str, Value] = field(default_factory=dict)  # what the item sets for itself
    label: str = ""  # the item as written, in the legend and the log
    key: str = ""  # its metrics' prefix: the name, or name_2 for its second appearance


def parse_entries(text: str, table: Table, most: int) -> list[Entry]:
    """The items of ``text``; ValueError says what is wrong with it, in a few words."""
    entries: list[Entry] = []
    for item in str(text).split(","):
        name, *pairs = item.split() or [""]
        if name not in table:
            raise ValueError(f"unknown optimiser {name!r}: one of {', '.join(table)}"
                             if name else "an empty item")
        given: dict[str, Value] = {}
        for pair in pairs:
            key, sep, raw = pair.partition("=")
            if key not in table[name] or not sep:
                raise ValueError(f"{name} takes {', '.join(k + '=' for k in table[name])}, "
                                 f"not {pair!r}")
            try:
                given[key] = table[name][key].parse(raw)
            except ParamError as err:
                raise ValueError(f"{name} {key} {err.rule.rpartition(' (got ')[0]}") from None
        label = " ".join(item.split())
        if any(e.label == label for e in entries):
            raise ValueError(f"{label!r} is given twice")
        seen = sum(e.name == name for e in entries)
        entries.append(Entry(name, given, label, f"{name}_{seen + 1}" if seen else name))
    if len(entries) > most:
        raise ValueError(f"at most {most} optimisers")
    return entries


def _check(table: Table, most: int, text: Value) -> str | None:
    try:
        parse_entries(str(text), table, most)
    except ValueError as err:
        return str(err)
    return None


def optimizer_list(default: str, table: Table, most: int) -> Param:
    return Param("optimizers", str, default,
                 f"optimisers to run, comma-separated ({', '.join(table)}); each may set its own "
                 "values, e.g. 'momentum beta=0.25'", check=partial(_check, table, most))


def hyper(entry: Entry, table: Table, params: Params) -> dict[str, Value]:
    """The entry's hyperparameters: its own, else the form's field, else the book's constant."""
    return {key: entry.given.get(key, params.get(p.name, p.default))
            for key, p in table[entry.name].items()}


def _lr(name: str, default: float, most: float = 100) -> Param:
    return Param(f"{name}_lr", float, default, f"learning rate η of {name}", min=0, max=most,
                 min_exclusive=True)


def _unit(name: str, default: float, help: str, most: float = 1) -> Param:
    return Param(name, float, default, help, min=0, max=most)


def _eps(name: str, default: float) -> Param:
    return Param(name, float, default, "ε added under the square root", min=0, max=1,
                 min_exclusive=True)


BETA = _unit("beta", 0.5, "momentum β: how much of the last velocity each step keeps")
GAMMA = _unit("gamma", 0.9, "RMSProp's γ: how slowly its average of g² forgets")
RHO = _unit("rho", 0.9, "Adadelta's ρ: how slowly its averages of g² and Δx² forget")
BETA1 = _unit("beta1", 0.9, "Adam's β1, for its average of g", most=0.9999)
BETA2 = _unit("beta2", 0.999, "Adam's β2, for its average of g²", most=0.999999)

# -- optim-2d -----------------------------------------------------------------------------------

PROBLEMS = ("quadratic-2d", "quadratic-1d", "nonconvex-1d", "cosh-1d")
SCHEDULES = ("constant", "exponential", "polynomial")
EPS_2D = _eps("eps", 1e-6)
TABLE_2D: Table = {
    "gd": {"lr": _lr("gd", 0.4)},
    "sgd": {
        "lr": _lr("sgd", 0.1),
        "schedule": Param("sgd_schedule", str, "constant", "SGD's learning rate η·s(t): "
                          "constant 1, exponential e^(−decay·t), polynomial (1 + decay·t)^−power",
                          choices=SCHEDULES),
        "decay": _unit("decay", 0.1, "the decay of SGD's exponential and polynomial schedules",
                       most=10),
        "power": _unit("power", 0.5, "the power of SGD's polynomial schedule", most=10),
        "noise": _unit("noise", 1.0, "σ of the N(0, σ²) noise SGD adds to each gradient "
                       "coordinate", most=100),
    },
    "momentum": {"lr": _lr("momentum", 0.6), "beta": BETA},
    "nesterov": {"lr": _lr("nesterov", 0.3), "beta": BETA},
    "adagrad": {"lr": _lr("adagrad", 0.4), "eps": EPS_2D},
    "rmsprop": {"lr": _lr("rmsprop", 0.4), "gamma": GAMMA, "eps": EPS_2D},
    "adadelta": {"rho": RHO, "eps": EPS_2D},
    "adam": {"lr": _lr("adam", 0.3), "beta1": BETA1, "beta2": BETA2, "eps": EPS_2D},
    "newton": {"lr": _lr("newton", 1.0)},
}


def _table_params(table: Table) -> tuple[Param, ...]:
    """Every Param of a table once, in order of first appearance."""
    return tuple({p.name: p for settings in table.values() for p in settings.values()}.values())


def _start(name: str, default: float, help: str) -> Param:
    return Param(name, float, default, help, min=-1e3, max=1e3)


def _coefficient(name: str, default: float, help: str) -> Param:
    return Param(name, float, default, help, min=0, max=100, min_exclusive=True)


_1D = {"problem": "quadratic-1d", "a1": 1.0, "x1": 10.0, "steps": 10, "optimizers": "gd"}

OPTIM_2D = Experiment(
    id="optim-2d",
    lecture=72,
    title_en="Optimisers on the book's toy functions",
    title_zh="优化算法：二维轨迹",
    chapter=OPTIMIZATION,
    dataset=None,
    summary="Gradient descent and its refinements step from the book's starting points over "
    "its toy functions: x² and x·cos(0.15πx) in 1-D, the bowls x1² + 2·x2² and 0.1·x1² + 2·x2² "
    "in 2-D. Each trajectory is drawn over the function's contour lines (in 1-D, over its "
    "curve), several optimisers at once, and each prints where it ends, as the book does. On "
    "0.1·x1² + 2·x2² gradient descent crawls along x1 while it oscillates in x2; momentum "
    "averages the oscillation away, AdaGrad and RMSProp scale each coordinate by its own "
    "gradients, and Newton's method divides by the curvature.",
    try_this=(
        "Pick the preset momentum: with η=0.6 gradient descent oscillates ever wider in x2 (the "
        "book's 'diverges in x2'), while momentum with the same η converges; less momentum "
        "(β=0.25) slows x1.",
        "Pick the preset adagrad: AdaGrad's step shrinks with every gradient it has seen, so "
        "η=0.4 stops short where η=2 arrives.",
        "Pick the preset sgd and run it with a few seeds: noise keeps SGD from settling unless "
        "its learning rate decays (the exponential decay stops it far too early).",
        "Pick gd-1d and set gd_lr=0.05 (too slow: 3.486784) or gd_lr=1.1 (divergent: "
        "61.917364).",
        "Pick nonconvex: with η=2 gradient descent settles in a local minimum; Newton's "
        "method heads for a maximum (26.8341) unless its η is smaller (7.2699).",
        "Set problem=cosh-1d and optimizers=newton with the gd-1d preset: Newton's method "
        "reaches 0 exactly.",
        "Add adadelta: its steps start at √ε and it barely moves in 20 steps; try "
        "'adadelta eps=0.01'.",
    ),
    params=(
        Param("problem", str, "quadratic-2d", "the function: a1·x1² + a2·x2² (2-D), a1·x² "
              "(1-D), x·cos(cπx) (1-D), cosh(cosh_c·x) (1-D)", choices=PROBLEMS),
        optimizer_list("gd, momentum, adagrad, rmsprop", TABLE_2D, len(TABLE_2D)),
        Param("steps", int, 20, "steps each optimiser takes", min=1, max=10_000),
        _start("x1", -5.0, "where x1 starts (x in 1-D)"),
        _start("x2", -2.0, "where x2 starts (2-D)"),
        _coefficient("a1", 0.1, "the coefficient of x1² (of x² in 1-D)"),
        _coefficient("a2", 2.0, "the coefficient of x2²"),
        _coefficient("c", 0.15, "the c of x·cos(cπx)"),
        _coefficient("cosh_c", 0.5, "the c of cosh(cx)"),
        *_table_params(TABLE_2D),
    ),
    entry="lab.recipes.optim_2d:optim_2d",
    presets={
        "gd-2d": {"a1": 1.0, "optimizers": "gd", "gd_lr": 0.1},
        "momentum": {"optimizers": "gd lr=0.6, momentum, momentum beta=0.25"},
        "adagrad": {"optimizers": "adagrad, adagrad lr=2"},
        "sgd": {"a1": 1.0, "steps": 50,
                "optimizers": "sgd, sgd schedule=exponential, sgd schedule=polynomial"},
        "all": {"optimizers": "gd, sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam"},
        "gd-1d": {"problem": "quadratic-1d", "a1": 1.0, "x1": 10.0, "steps": 10,
                  "optimizers": "gd", "gd_lr": 0.2},
        "nonconvex": {"problem": "nonconvex-1d", "x1": 10.0, "steps": 10,
                      "optimizers": "gd lr=2, newton, newton lr=0.5"},
    },
    book_result={
        "book": "gd_x1 -0.943467 · momentum_x1 0.007188 · momentum_x2 0.002553 · adagrad_x1 "
        "-2.382563 · rmsprop_x1 -0.010599",
        "gd-2d": "gd_x1 -0.057646 · gd_x2 -0.000073",
        "momentum": "gd_x2 -1673.365109 · momentum_x1 0.007188 · momentum_2_x1 -0.126340",
        "adagrad": "adagrad_x1 -2.382563 · adagrad_2_x1 -0.002295",
        "sgd": "sgd_x1 0.152106 · sgd_2_x1 -0.903849 (1000 steps) · sgd_3_x1 -0.067160, "
        "all random",
        "all": "momentum_x1 0.007188 · rmsprop_x1 -0.010599",
        "gd-1d": "gd_x 0.060466",
        "nonconvex": "gd_x -1.528166 · newton_x 26.8341 · newton_2_x 7.2699",
    },
    notes="The book draws each optimiser in its own figure; here several share one, each in "
    "its colour. Nesterov's momentum is torch's form (the gradient at x, not at the look-ahead "
    "point). The book has no 2-D trajectory of Adadelta or Adam, and no Adam for a toy function: "
    "their defaults here are the lab's. SGD's schedules count t from 2 at the first step, as "
    "the book's lr functions do (t = 1, then t += 1 before use). The view is the book's "
    "(x1 ∈ [−5.5, 1), x2 ∈ [−3, 1) from (−5, −2)), widened for a trajectory that leaves it by "
    "at most its own size again; what goes further is cut at its edge, and the log says so. "
    "With momentum (or nesterov) in the list, the book's plots of how it weighs the past "
    "follow: β^t for β = 0.95, 0.9, 0.6, 0, and (1 − ηλ)^t, gradient descent on λ/2·x² with "
    "η = 0.1; with rmsprop, (1 − γ)γ^t for γ = 0.95, 0.9, 0.8, 0.7.",
    demo=True,
)

# -- optim-airfoil ------------------------------------------------------------------------------

AIRFOIL_ROWS = 1500  # get_data_ch11's n
AIRFOIL_MOST = 8  # optimisers in one run
RUN = {"batch_size": batch_size(10, AIRFOIL_ROWS), "epochs": epochs(2, 100)}
TABLE_AIRFOIL: Table = {
    "sgd": {"lr": _lr("sgd", 0.05), **RUN},
    "momentum": {"lr": _lr("momentum", 0.02), "beta": BETA, **RUN},
    "adagrad": {"lr": _lr("adagrad", 0.1), "eps": _eps("adagrad_eps", 1e-6), **RUN},
    "rmsprop": {"lr": _lr("rmsprop", 0.01), "gamma": GAMMA, "eps": _eps("rmsprop_eps", 1e-6),
                **RUN},
    "adadelta": {"rho": RHO, "eps": _eps("adadelta_eps", 1e-5), **RUN},
    "adam": {"lr": _lr("adam", 0.01), "beta1": BETA1, "beta2": BETA2,
             "eps": _eps("adam_eps", 1e-6), **RUN},
    "yogi": {"lr": _lr("yogi", 0.01), "beta1": BETA1, "beta2": BETA2,
             "eps": _eps("yogi_eps", 1e-3), **RUN},
}
FORM_AIRFOIL = {"batch_size", "epochs", "sgd_lr", "momentum_lr", "beta", "adagrad_lr",
                "rmsprop_lr", "gamma", "rho", "adam_lr", "yogi_lr"}


def _concise_has_them(params: Params) -> None:
    """Yogi has no torch.optim version to run concisely."""
    if params.impl == "concise":
        names = {e.name for e in parse_entries(params.optimizers, TABLE_AIRFOIL, AIRFOIL_MOST)}
        if "yogi" in names:
            raise ParamError("optimizers", "yogi is not in torch.optim: run it with "
                             "impl=scratch")


OPTIM_AIRFOIL = Experiment(
    id="optim-airfoil",
    lecture=72,
    title_en="Optimisers on the airfoil data",
    title_zh="优化算法：翼型噪声数据",
    chapter=OPTIMIZATION,
    dataset="airfoil",
    summary="The book's linear regression on NASA's airfoil self-noise data (1500 rows, 5 "
    "standardised features) trained by each optimiser of the chapter for 2 epochs, with the "
    "loss on all 1500 rows every 200 examples (the book's train_ch11). Written by hand (the "
    "book's update rules) or with torch.optim. A second figure sets the same losses against "
    "the time spent training, on a log axis: the book's comparison of gradient descent, SGD "
    "and minibatches.",
    try_this=(
        "Pick the preset batch-sizes: full-batch gradient descent takes fewest steps but most "
        "time per step; single-example SGD the reverse; minibatches sit between.",
        "Set sgd_lr=0.5 and watch SGD's loss jump about.",
        "Overlay 'momentum, momentum lr=0.01 beta=0.9, momentum lr=0.005 beta=0.9': the "
        "effective step is η/(1 − β).",
        "Run adagrad with lr=0.01: its step keeps shrinking and it stops short.",
        "Switch impl=concise: the torch.optim versions, with the book's concise settings "
        "(the preset concise).",
    ),
    params=(
        optimizer_list("sgd, momentum, adagrad, rmsprop, adadelta, adam", TABLE_AIRFOIL,
                       AIRFOIL_MOST),
        impl(),
        *(p for p in _table_params(TABLE_AIRFOIL) if p.name in FORM_AIRFOIL),
    ),
    entry="lab.recipes.optim_airfoil:optim_airfoil",
    presets={
        "concise": {"impl": "concise", "epochs": 4, "sgd_lr": 0.01, "momentum_lr": 0.005,
                    "beta": 0.9},
        "batch-sizes": {"optimizers": "sgd lr=1 batch_size=1500 epochs=10, sgd lr=0.005 "
                        "batch_size=1, sgd lr=0.4 batch_size=100, sgd lr=0.05 batch_size=10"},
    },
    book_result={
        "book": "sgd_loss 0.251 · momentum_loss 0.244 · adagrad_loss 0.242 · rmsprop_loss "
        "0.242 · adadelta_loss 0.243 · adam_loss 0.251",
        "concise": "momentum_loss 0.243 · adagrad_loss 0.242 · rmsprop_loss 0.245 · "
        "adadelta_loss 0.243 · adam_loss 0.243",
        "batch-sizes": "sgd_loss 0.247 · sgd_2_loss 0.243 · sgd_3_loss 0.244 · sgd_4_loss 0.251",
    },
    notes="The concise runs follow the Chinese edition's code: nn.MSELoss with l.mean()."
    "backward(), twice the gradient of the scratch runs' ½(ŷ − y)², and half the mean squared "
    "error plotted so that both show the same loss. The concise losses the book prints come "
    "from the English code, which backpropagates l/2: for SGD and momentum the same run here "
    "takes half the learning rate (momentum_lr=0.0025 ends near the printed 0.243; the "
    "Chinese 0.005 near 0.249); the adaptive optimisers do not mind the scale. The full-data "
    "loss is one matrix product instead of a pass of the data iterator, and it is also taken "
    "after the last step when that is not a multiple of 200 examples.",
    resumable=False,  # one model per optimiser, in turn
    rules=(_concise_has_them,),
)

EXPERIMENTS = (OPTIM_2D, OPTIM_AIRFOIL)
