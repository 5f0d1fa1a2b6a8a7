"""The book's runs and where they land in the catalog: the table that built the shipped reference
(lab/book_reference.json) from the book's figures, kept so it can be checked and rebuilt.

The figures' values come from ``book_curves.json`` (read off the executed English edition's plots
and checked against what it prints); the numbers the book prints but does not plot (linear
regression's losses, ‖w‖, BLEU, k-fold averages) come from LECTURES.md. Each book run becomes a
reference keyed by an experiment id and a *variant*: the parameters that pick that run among the
experiment's book runs (dropout's impl, polyfit's degree). ``preset`` names the catalog preset that
holds the rest of the book's settings (polyfit's overfit trains 1500 epochs).

Run ``python -m lab.book_runs BOOK_CURVES_JSON`` to write the reference again. The lab itself
never reads the source: only the JSON this writes, shipped in the package.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REFERENCE = Path(__file__).with_name("book_reference.json")
ABOUT = ("one unseeded run of the English edition (d2l 0.17.0, torch 1.8.1) on Tesla V100 GPUs, "
         "July 2021: a target with a tolerance, not an exact value")


@dataclass(frozen=True)
class BookRun:
    experiment: str
    variant: dict[str, Any] = field(default_factory=dict)
    preset: str = "book"
    names: dict[str, str] = field(default_factory=dict)  # the book's series -> the lab's metric
    scale: float = 1.0  # the book plots half of the lab's loss (Nadaraya-Watson's EN code)
    final: bool = True  # its last values are the run's final numbers (not one fold's of five)
    # Whether a run here should follow its curves: not where each run draws its few examples
    # anew (the curves of polyfit and weight decay differ from draw to draw by 2× to 40×).
    drift: bool = True


_FOLD1 = {"train log rmse": "fold 1 train", "valid log rmse": "fold 1 valid"}
_MOMENTA = "momentum, momentum lr=0.01 beta=0.9, momentum lr=0.005 beta=0.9"  # its try_this
_BATCHES = ("sgd lr=1 batch_size=1500 epochs=10, sgd lr=0.005 batch_size=1, sgd lr=0.4 "
            "batch_size=100, sgd lr=0.05 batch_size=10")  # its preset batch-sizes

# The book's run (book_curves.json's key) -> the catalog's experiment and variant.
RUNS: dict[str, BookRun | None] = {
    "softmax-scratch": BookRun("softmax-scratch"),
    "softmax": BookRun("softmax"),
    "mlp-scratch": BookRun("mlp-scratch"),
    "mlp": BookRun("mlp"),
    "dropout/scratch": BookRun("dropout", {"impl": "scratch"}),
    "dropout/concise": BookRun("dropout", {"impl": "concise"}),
    "polyfit/cubic": BookRun("polyfit", {"degree": 4}, drift=False),
    "polyfit/underfit": BookRun("polyfit", {"degree": 2}, "underfit", drift=False),
    "polyfit/overfit": BookRun("polyfit", {"degree": 20}, "overfit", drift=False),
    **{f"weight-decay/{impl}-{name}": BookRun(
        "weight-decay", {"impl": impl, "lambda": float(name[-1])}, drift=False)
       for impl, names in (("scratch", ("lambda0", "lambda3")), ("concise", ("wd0", "wd3")))
       for name in names},
    "house-prices/kfold-fold1": BookRun("house-prices", names=_FOLD1, final=False),
    "house-prices/final-train": BookRun("house-prices", names={"train log rmse": "final train"},
                                        final=False),
    **{name: BookRun(name) for name in ("lenet", "alexnet", "vgg", "nin", "googlenet", "resnet",
                                        "densenet")},
    "batchnorm/scratch": BookRun("batchnorm", {"impl": "scratch"}),
    "batchnorm/concise": BookRun("batchnorm", {"impl": "concise"}),
    "rnn-scratch/sequential": BookRun("rnn-scratch", {"sampling": "sequential"}),
    "rnn-scratch/random": BookRun("rnn-scratch", {"sampling": "random"}),
    "rnn": BookRun("rnn"),
    "gru/scratch": BookRun("gru", {"impl": "scratch"}),
    "gru/concise": BookRun("gru", {"impl": "concise"}),
    "lstm/scratch": BookRun("lstm", {"impl": "scratch"}),
    "lstm/concise": BookRun("lstm", {"impl": "concise"}),
    "deep-rnn": BookRun("deep-rnn"),
    "bi-rnn": BookRun("bi-rnn"),
    "seq2seq": BookRun("seq2seq"),
    "nadaraya-watson": BookRun("nadaraya-watson", scale=2.0),
    "bahdanau": BookRun("bahdanau"),
    "transformer": BookRun("transformer"),
    # optim-airfoil draws its losses as a figure, one curve per optimiser: its entries, below,
    # hold the final losses the book prints, named by the optimiser as its run names them.
    **dict.fromkeys((f"optim-airfoil/{run}" for run in (
        "minibatch-sgd:gd-lr1-bs1500", "minibatch-sgd:sgd-lr0.005-bs1",
        "minibatch-sgd:minibatch-lr0.4-bs100", "minibatch-sgd:minibatch-lr0.05-bs10",
        "minibatch-sgd:concise-sgd-lr0.05-bs10", "momentum:lr0.02-m0.5", "momentum:lr0.01-m0.9",
        "momentum:lr0.005-m0.9", "momentum:concise-lr0.005-m0.9", "adagrad:lr0.1",
        "adagrad:concise-lr0.1", "rmsprop:lr0.01-gamma0.9", "rmsprop:concise-lr0.01-alpha0.9",
        "adadelta:rho0.9", "adadelta:concise-rho0.9", "adam:lr0.01", "adam:concise-lr0.01",
        "adam:yogi-lr0.01")), None),
}
SERIES = {"train loss": "train_loss", "train acc": "train_acc", "test acc": "test_acc",
          "test loss": "test_loss"}  # the book's other series names are the lab's already

# What the book prints beyond its figures (LECTURES.md), by experiment and variant: epochs the
# run trains, per-epoch values (as series) and final values, named as the lab's runs name them.
PRINTED: list[dict[str, Any]] = [
    {"experiment": "linreg-scratch", "book": "linear-regression-scratch", "epochs": 3,
     "series": {"loss": [[1, 0.053213], [2, 0.000268], [3, 0.000054]]},
     "final": {"w_error": 0.0016291, "b_error": 0.0003}},
    {"experiment": "linreg", "book": "linear-regression-concise", "epochs": 3,
     "series": {"loss": [[1, 0.000215], [2, 0.000098], [3, 0.000097]]},
     "final": {"w_error": 0.0007, "b_error": 0.0005}},
    {"experiment": "weight-decay", "variant": {"impl": "scratch", "lambda": 0.0},
     "final": {"w_norm": 12.964581489562988}},
    {"experiment": "weight-decay", "variant": {"impl": "scratch", "lambda": 3.0},
     "final": {"w_norm": 0.3805414140224457}},
    {"experiment": "weight-decay", "variant": {"impl": "concise", "lambda": 0.0},
     "final": {"w_norm": 12.897980690002441}},
    {"experiment": "weight-decay", "variant": {"impl": "concise", "lambda": 3.0},
     "final": {"w_norm": 0.38543230295181274}},
    {"experiment": "house-prices", "book": "kaggle-house-price (5-fold averages)",
     "final": {"train_log_rmse": 0.165583, "valid_log_rmse": 0.170608,
               "final_train_log_rmse": 0.162359}},
    # Its kernel [[1.0099, -0.9607]] against the true [1, -1].
    {"experiment": "conv-edge", "book": "conv-layer", "epochs": 10,
     "final": {"kernel_error": 0.0393}},
    {"experiment": "multi-gpu", "book": "multiple-gpus (1 GPU)", "epochs": 10,
     "final": {"test_acc": 0.82}},
    {"experiment": "multi-gpu-concise", "book": "multiple-gpus-concise (ResNet-18, 1 GPU)",
     "epochs": 10, "final": {"test_acc": 0.91}},
    {"experiment": "sequence", "book": "sequence", "epochs": 5, "final": {"loss": 0.053794}},
    # BLEU of its four translations (the lab's bleu is their mean; exact: how many are 1).
    {"experiment": "seq2seq", "final": {"bleu": 0.5195, "exact": 0.0}},  # .687 .447 .447 .497
    {"experiment": "bahdanau", "final": {"bleu": 0.75, "exact": 3.0}},
    {"experiment": "transformer", "final": {"bleu": 1.0, "exact": 4.0}},
    # The chapter's optimisers, 2 epochs on the airfoil data (concise: 4); the EN code's concise
    # SGD (lr 0.05, half the gradient) has no counterpart here.
    {"experiment": "optim-airfoil", "variant": {"impl": "scratch"}, "epochs": 2,
     "book": "minibatch-sgd, momentum, adagrad, rmsprop, adadelta, adam",
     "final": {"sgd_loss": 0.251, "momentum_loss": 0.244, "adagrad_loss": 0.242,
               "rmsprop_loss": 0.242, "adadelta_loss": 0.243, "adam_loss": 0.251,
               "yogi_loss": 0.243}},
    {"experiment": "optim-airfoil", "variant": {"impl": "concise"}, "preset": "concise",
     "epochs": 4, "book": "momentum, adagrad, rmsprop, adadelta, adam (concise)",
     "final": {"momentum_loss": 0.243, "adagrad_loss": 0.242, "rmsprop_loss": 0.245,
               "adadelta_loss": 0.243, "adam_loss": 0.243}},
    {"experiment": "optim-airfoil", "variant": {"impl": "scratch", "optimizers": _MOMENTA},
     "epochs": 2, "book": "momentum",
     "final": {"momentum_loss": 0.244, "momentum_2_loss": 0.244, "momentum_3_loss": 0.243}},
    {"experiment": "optim-airfoil", "variant": {"impl": "scratch", "optimizers": _BATCHES},
     "preset": "batch-sizes", "epochs": 2, "book": "minibatch-sgd",
     "final": {"sgd_loss": 0.247, "sgd_2_loss": 0.243, "sgd_3_loss": 0.244,
               "sgd_4_loss": 0.251}},
]


def _key(experiment: str, variant: dict[str, Any]) -> str:
    return experiment + json.dumps(variant, sort_keys=True)


def _epoch_points(points: list[list[float]], scale: float) -> list[list[float]]:
    """The points at whole epochs, where the lab reports its metrics (the book's points between
    are running means within an epoch)."""
    return [[round(x), _round(y * scale)] for x, y in points
            if x >= 1 and abs(x - round(x)) < 1e-3]


def _round(value: float, digits: int = 5) -> float:
    return float(f"{value:.{digits}g}") if value and math.isfinite(value) else value


def build(source: dict[str, Any]) -> dict[str, Any]:
    """The shipped reference, from book_curves.json's contents and the tables above."""
    entries: dict[str, dict[str, Any]] = {}

    def entry(experiment: str, variant: dict[str, Any], **extra: Any) -> dict[str, Any]:
        found = entries.setdefault(_key(experiment, variant), {
            "experiment": experiment, "variant": variant, "book": [], "series": {},
            "final": {}, "printed": []})
        found.update({k: v for k, v in extra.items() if v or v is False})  # drift: false
        return found

    for name, run in RUNS.items():
        if run is None:
            continue
        book = source["experiments"][name]
        into = entry(run.experiment, run.variant, preset=run.preset if run.preset != "book"
                     else "", drift=None if run.drift else False)
        into["book"].append(name)
        into["notebook"] = book["notebook"]
        rename = {**SERIES, **run.names}
        for series, points in book["series"].items():
            metric = rename.get(series, series)
            into["series"][metric] = _epoch_points(points, run.scale)
            if run.final:
                into["final"].setdefault(metric, into["series"][metric][-1][1])
        for series, value in book["printed"].items() if run.final else ():  # not the plot's
            into["final"][rename.get(series, series)] = value * run.scale
            into["printed"].append(rename.get(series, series))
        into["epochs"] = max(into.get("epochs", 0), *(p[-1][0] for p in into["series"].values()))
    for printed in PRINTED:
        into = entry(printed["experiment"], printed.get("variant", {}),
                     epochs=printed.get("epochs", 0), preset=printed.get("preset", ""))
        if "book" in printed:
            into["book"].append(printed["book"])
        into["series"].update(printed.get("series", {}))
        into["final"].update({**{m: p[-1][1] for m, p in printed.get("series", {}).items()},
                              **printed["final"]})
        into["printed"] += [m for m in (*printed.get("series", {}), *printed["final"])
                            if m not in into["printed"]]
    return {"source": source["source"], "about": ABOUT, "references": list(entries.values())}


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: python -m lab.book_runs BOOK_CURVES_JSON")
    reference = build(json.loads(Path(argv[0]).read_text(encoding="utf-8")))
    text = json.dumps(reference, ensure_ascii=False, separators=(",", ":"))
    REFERENCE.write_text(text.replace(',{"experiment"', ',\n{"experiment"') + "\n",
                         encoding="utf-8")
    print(f"wrote {len(reference['references'])} references to {REFERENCE}")


if __name__ == "__main__":
    main(sys.argv[1:])
