"""Lecture 15, Kaggle house prices: the book's preprocessing, k-fold, results and submission."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from lab import catalog, runner
from lab.cli import app
from lab.data import hub
from lab.events import EpochEnd, Event, Message
from lab.recipes import house_prices

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NAMES = [f.name for f in hub.DATASETS["kaggle-house"].files]


@pytest.fixture
def shared_csvs() -> Path:
    """The book's two csv files from ../shared/data; skips (visibly) without them."""
    if not all((SHARED_DATA / name).is_file() for name in NAMES):
        pytest.skip(f"the Kaggle house price files are not in {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def kaggle_house(shared_csvs: Path) -> Path:
    """The real data, imported through the hub into this test's lab home."""
    return hub.import_dir("kaggle-house", shared_csvs)


def run(sinks=(), **overrides):
    exp = catalog.get("house-prices")
    return runner.run(exp, exp.resolve("book", {k: str(v) for k, v in overrides.items()}),
                      sinks=sinks)


def test_cli_imports_both_files_from_a_folder(shared_csvs: Path, tmp_path: Path) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    for name in NAMES:
        shutil.copy(shared_csvs / name, folder)
    assert not hub.is_available("kaggle-house")
    result = CliRunner().invoke(app, ["data", "import", "kaggle-house", str(folder)])
    assert result.exit_code == 0, result.output
    assert hub.is_available("kaggle-house")
    assert {p.name for p in hub.locate("kaggle-house").iterdir()} == set(NAMES)


def test_missing_data_fails_with_how_to_get_it() -> None:
    events: list[Event] = []
    result = run(sinks=[events.append], k=2, epochs=1)
    assert result.status == "failed"
    errors = " ".join(e.text for e in events if isinstance(e, Message) and e.level == "error")
    assert "d2l-lab data import kaggle-house DIR" in errors and "offline" in errors.lower()


def test_preprocessing_gives_the_books_331_float_features(kaggle_house: Path) -> None:
    train, test = house_prices.read_csvs()
    assert train.shape == (1460, 81) and test.shape == (1459, 80)
    features = house_prices.preprocess(train, test)
    assert features.shape == (2919, 331)  # the book's count, on pandas 1.2.4
    assert set(features.dtypes) == {np.dtype("float64")}
    assert not features.isna().any().any()
    assert "MasVnrType_None" in features  # a category, not missing (pandas ≥ 2 reads it as NaN)
    assert features["LotArea"].mean() == pytest.approx(0, abs=1e-9)
    assert features["LotArea"].std() == pytest.approx(1)

    data = house_prices.load(torch.device("cpu"))
    assert data.train_features.shape == (1460, 331) and data.test_features.shape == (1459, 331)
    assert data.train_features.dtype == torch.float32
    assert data.train_labels.shape == (1460, 1)
    assert data.train_labels[0].item() == train["SalePrice"][0] == 208500


def test_k_fold_data_is_the_books() -> None:
    """Contiguous folds of n // k rows; the remainder belongs to no fold."""
    X = torch.arange(7.0).reshape(7, 1)
    (X_train, y_train), (X_valid, y_valid) = house_prices.k_fold_data(3, 1, X, X * 10)
    assert X_valid.flatten().tolist() == [2, 3]
    assert X_train.flatten().tolist() == [0, 1, 4, 5]
    assert torch.equal(y_train, X_train * 10) and torch.equal(y_valid, X_valid * 10)


def test_log_rmse_clips_predictions_below_one() -> None:
    preds = torch.tensor([[0.5], [torch.e]])  # clipped to 1: log 0 and log e = 1
    value = house_prices.log_rmse(nn.Identity(), preds, torch.ones(2, 1))
    assert value.item() == pytest.approx(0.5**0.5)


def test_tiny_run_learns_in_each_fold_and_writes_the_submission(kaggle_house: Path) -> None:
    events: list[Event] = []
    result = run(sinks=[events.append], k=2, epochs=3)
    assert result.status == "finished", result.reason
    for fold in (1, 2):
        for split in ("train", "valid"):
            name = f"fold {fold} {split}"
            curve = [e.metrics[name] for e in events
                     if isinstance(e, EpochEnd) and name in e.metrics]
            assert len(curve) == 3 and curve[0] > curve[1] > curve[2], (name, curve)
    texts = [e.text for e in events if isinstance(e, Message)]
    assert any(re.fullmatch(r"fold 2, train log rmse \d+\.\d{6}, valid log rmse \d+\.\d{6}", t)
               for t in texts)
    assert any(t.startswith("2-fold validation: avg train log rmse: ") for t in texts)
    assert set(result.metrics) >= {"train_log_rmse", "valid_log_rmse"}

    submission = pd.read_csv(result.run_dir / "submission.csv")
    assert list(submission.columns) == ["Id", "SalePrice"]
    assert len(submission) == 1459
    assert submission["Id"].tolist() == list(range(1461, 2920))
    assert submission["SalePrice"].notna().all()
    assert set(torch.load(result.run_dir / "final.pt")) == {"net", "optimizer"}


def test_book_defaults_reproduce_the_books_validation_error(kaggle_house: Path) -> None:
    """k=5, 100 epochs, lr 5, batch 64: the book averages 0.165583 train / 0.170608 valid."""
    events: list[Event] = []
    result = run(sinks=[events.append])
    assert result.status == "finished", result.reason
    assert 0.15 < result.metrics["valid_log_rmse"] < 0.19
    assert 0.15 < result.metrics["train_log_rmse"] < 0.18
    folds = [t for e in events if isinstance(e, Message) and (t := e.text).startswith("fold ")]
    assert len(folds) == 5
