"""Lecture 15: Kaggle house prices — the book's preprocessing, k-fold cross-validation, and a
final model trained on all the training data that writes ``submission.csv``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from lab.data import hub
from lab.events import Message
from lab.train.context import RunContext
from lab.train.loop import end_epoch, run_epoch
from lab.train.updaters import TorchUpdater

DATASET = "kaggle-house"
TRAIN_CSV, TEST_CSV = "kaggle_house_pred_train.csv", "kaggle_house_pred_test.csv"
# The files write a missing value as "NA". pandas ≥ 2 also takes the text "None" for missing,
# which would merge MasVnrType's category "None" into NaN: 330 features, not the book's 331.
NA_VALUES = ["NA", ""]

Split = tuple[torch.Tensor, torch.Tensor]  # (features, labels)


@dataclass
class HouseData:
    train_features: torch.Tensor  # float32 [1460, 331]
    train_labels: torch.Tensor  # float32 [1460, 1], SalePrice
    test_features: torch.Tensor  # float32 [1459, 331]
    test_ids: pd.Series  # the test set's Id column, for the submission


def read_csvs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) as the book reads them, from the hub's copies."""
    return _read_csv(TRAIN_CSV, "SalePrice"), _read_csv(TEST_CSV, "Id")


def _read_csv(name: str, column: str) -> pd.DataFrame:
    """One file; an empty or foreign one is a damaged copy (DataDamaged says which and what to
    do), not a pandas traceback."""
    path = hub.file_path(DATASET, name)
    try:
        table = pd.read_csv(path, keep_default_na=False, na_values=NA_VALUES)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise hub.DataDamaged(hub.damaged_message(DATASET, path, f"{path}: {e}")) from e
    if table.empty or column not in table:
        fault = "no houses" if column in table else f"no {column} column"
        raise hub.DataDamaged(hub.damaged_message(
            DATASET, path, f"{path}: {fault}: not the book's {name}"))
    return table


def preprocess(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Train features (without Id and SalePrice) above the test ones (without Id), numeric columns
    standardised with NaN -> 0 (the mean), text columns one-hot with a column for missing."""
    features = pd.concat((train.iloc[:, 1:-1], test.iloc[:, 1:]))
    # The book selects dtype != 'object'; pandas ≥ 3 stores text as 'str', so ask for numbers.
    numeric = features.select_dtypes("number").columns
    features[numeric] = features[numeric].apply(lambda x: (x - x.mean()) / x.std()).fillna(0)
    # pandas ≥ 2 makes bool dummies, which torch.tensor cannot take: ask for floats.
    return pd.get_dummies(features, dummy_na=True, dtype=float)


def load(device: torch.device) -> HouseData:
    """The preprocessed features of both sets and the training prices, as float32 tensors."""
    train, test = read_csvs()
    features = torch.tensor(preprocess(train, test).to_numpy(), dtype=torch.float32,
                            device=device)
    n = len(train)
    labels = torch.tensor(train["SalePrice"].to_numpy().reshape(-1, 1), dtype=torch.float32,
                          device=device)
    return HouseData(features[:n], labels, features[n:], test["Id"])


def get_net(in_features: int) -> nn.Sequential:
    """The book's baseline: linear regression, with torch's default initialisation."""
    return nn.Sequential(nn.Linear(in_features, 1))


def log_rmse(net: nn.Module, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """RMSE between log prices: relative errors, so cheap and dear houses count alike. Predictions
    below 1 are clipped to 1 so that the log stays finite."""
    clipped = torch.clamp(net(features), 1, float("inf"))
    return torch.sqrt(nn.functional.mse_loss(torch.log(clipped), torch.log(labels)))


def k_fold_data(k: int, i: int, features: torch.Tensor,
                labels: torch.Tensor) -> tuple[Split, Split]:
    """The book's get_k_fold_data: k contiguous folds of n // k rows (the rest is left out);
    fold i validates and the others, concatenated in order, train."""
    size = features.shape[0] // k
    folds = [(features[j * size:(j + 1) * size], labels[j * size:(j + 1) * size])
             for j in range(k)]
    rest = [fold for j, fold in enumerate(folds) if j != i]
    train = (torch.cat([x for x, _ in rest]), torch.cat([y for _, y in rest]))
    return train, folds[i]


def fit(ctx: RunContext, train: Split, valid: Split | None,
        prefix: str) -> tuple[nn.Module, dict[str, float]]:
    """The book's ``train``: Adam on minibatches of the MSE, then the log rmse of each split at
    every epoch's end, as curves named ``{prefix} train`` and ``{prefix} valid``. Returns the net
    and its last epoch's metrics."""
    p = ctx.params
    features, labels = train
    net = get_net(features.shape[1]).to(ctx.device)
    update = TorchUpdater(torch.optim.Adam(net.parameters(), lr=p.lr,
                                           weight_decay=p.weight_decay))
    ctx.track(net=net, optimizer=update)  # a stopped run keeps the model it was training

    def step(indices: torch.Tensor) -> torch.Tensor:
        y = labels.index_select(0, indices)
        y_hat = net(features.index_select(0, indices))
        update((y_hat - y).square().reshape(-1))  # their mean is nn.MSELoss, as the book trains
        # The batch loss shown (and checked for NaN) is on the log scale of the curves, not in
        # dollars²: squared log errors, whose mean is the batch's log rmse squared.
        with torch.no_grad():
            clipped = torch.clamp(y_hat, 1, float("inf"))
            return (torch.log(clipped) - torch.log(y)).square().reshape(-1)

    for epoch in range(1, p.epochs + 1):
        monitor = run_epoch(ctx, epoch, p.epochs, len(labels), p.batch_size, step)
        with torch.no_grad():
            metrics = {f"{prefix} train": log_rmse(net, *train)}
            if valid is not None:
                metrics[f"{prefix} valid"] = log_rmse(net, *valid)
            end_epoch(ctx, monitor, metrics)
    return net, dict(ctx.metrics)  # end_epoch left them there, already on the host


@torch.no_grad()
def write_submission(folder: Path, net: nn.Module, data: HouseData) -> Path:
    """The book's submission format: the test Ids and their predicted SalePrice."""
    preds = net(data.test_features).reshape(-1).cpu().numpy()
    path = folder / "submission.csv"
    pd.DataFrame({"Id": data.test_ids.to_numpy(), "SalePrice": preds}).to_csv(path, index=False)
    return path


def train_house_prices(ctx: RunContext) -> None:
    k = ctx.params.k
    hub.ensure(DATASET, ctx.download_note)
    data = load(ctx.device)
    ctx.emit(Message(f"{data.train_features.shape[1]} features; {len(data.train_labels)} "
                     f"training and {len(data.test_features)} test houses"))

    train_sum = valid_sum = 0.0
    for i in range(k):
        train, valid = k_fold_data(k, i, data.train_features, data.train_labels)
        _, last = fit(ctx, train, valid, f"fold {i + 1}")
        train_l, valid_l = last[f"fold {i + 1} train"], last[f"fold {i + 1} valid"]
        train_sum, valid_sum = train_sum + train_l, valid_sum + valid_l
        ctx.emit(Message(f"fold {i + 1}, train log rmse {train_l:f}, "
                         f"valid log rmse {valid_l:f}"))
    avg_train, avg_valid = train_sum / k, valid_sum / k
    ctx.emit(Message(f"{k}-fold validation: avg train log rmse: {avg_train:f}, "
                     f"avg valid log rmse: {avg_valid:f}"))

    # The book's train_and_pred: one model on every training house, then the test predictions.
    net, last = fit(ctx, (data.train_features, data.train_labels), None, "final")
    final = last["final train"]
    ctx.emit(Message(f"final model: train log rmse {final:f}"))
    path = write_submission(ctx.run_dir, net, data)
    ctx.emit(Message(f"test predictions written to {path}"))
    ctx.metrics = {"train_log_rmse": avg_train, "valid_log_rmse": avg_valid,
                   "final_train_log_rmse": final}
