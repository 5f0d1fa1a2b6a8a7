"""Lecture 04's data demos: the book's tiny house CSV through pandas to a tensor (`preprocess`),
and a custom Dataset over a small CSV read in batches by a DataLoader (`dataset-loader`).

Both write their CSV into the run's own folder, as the book writes ``../data/house_tiny.csv``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from lab.recipes.prelim_common import cell, listed, say, table, tensor_table
from lab.train.context import RunContext

HOUSE_TINY = (  # exactly the book's file
    "NumRooms,Alley,Price\n"
    "NA,Pave,127500\n"
    "2,NA,106000\n"
    "4,NA,178100\n"
    "NA,NA,140000\n"
)


# -- preprocess -------------------------------------------------------------------------------

def frame_table(ctx: RunContext, title: str, frame: pd.DataFrame | pd.Series) -> None:
    """A data frame as pandas prints it: the index first, a missing value as NaN."""
    frame = frame.to_frame() if isinstance(frame, pd.Series) else frame
    rows = [[index, *("NaN" if pd.isna(v) else cell(v) for v in values)]
            for index, values in zip(frame.index, frame.itertuples(index=False), strict=True)]
    table(ctx, title, ["", *map(str, frame.columns)], rows)


def preprocess(ctx: RunContext) -> None:
    p = ctx.params
    data_file = write_file(ctx.run_dir / "house_tiny.csv", HOUSE_TINY)
    say(ctx, f"the book's CSV, written to {data_file}, then data = pd.read_csv(data_file): "
             "NA is read as missing (NaN)")
    data = pd.read_csv(data_file)
    frame_table(ctx, "data", data)
    inputs, outputs = data.iloc[:, 0:2], data.iloc[:, 2]
    numeric = list(inputs.select_dtypes("number").columns)  # Alley is text: not filled
    how, fill = {
        "mean": ("inputs.mean(numeric_only=True)", lambda: inputs.mean(numeric_only=True)),
        "median": ("inputs.median(numeric_only=True)",
                   lambda: inputs.median(numeric_only=True)),
        "zero": (str(dict.fromkeys(numeric, 0)), lambda: dict.fromkeys(numeric, 0.0)),
    }[p.fill]
    say(ctx, f"inputs, outputs = data.iloc[:, 0:2], data.iloc[:, 2]; inputs = inputs.fillna("
             f"{how}): only the numeric NumRooms is filled (numeric_only: Alley is text)")
    inputs = inputs.fillna(fill())
    frame_table(ctx, "inputs, filled", inputs)
    say(ctx, f"inputs = pd.get_dummies(inputs, dummy_na={p.dummy_na}, dtype=float): a 0/1 "
             "column per value of Alley" + (", and one for missing (nan)" if p.dummy_na else ""))
    inputs = pd.get_dummies(inputs, dummy_na=p.dummy_na, dtype=float)
    frame_table(ctx, "inputs, one-hot", inputs)
    X = torch.tensor(inputs.to_numpy(dtype=float))
    y = torch.tensor(outputs.to_numpy(dtype=float))
    say(ctx, "X, y = torch.tensor(inputs.to_numpy(dtype=float)), torch.tensor(outputs."
             f"to_numpy(dtype=float)): {X.dtype}, shapes {tuple(X.shape)} and {tuple(y.shape)}")
    tensor_table(ctx, "X", X, list(inputs.columns))
    tensor_table(ctx, "y", y)
    ctx.metrics = {
        "examples": float(X.shape[0]),
        "features": float(X.shape[1]),
        "missing": float(torch.isnan(X).sum()),
        "NumRooms_fill": float(inputs["NumRooms"][0]),  # row 0's NumRooms was missing
    }


def write_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- Dataset and DataLoader -------------------------------------------------------------------

class CsvDataset(Dataset):
    """A custom Dataset, the three methods the course names: ``__init__`` reads the file,
    ``__len__`` says how many examples there are, ``__getitem__`` returns one (x, y)."""

    def __init__(self, csv_file: Path):
        self.frame = pd.read_csv(csv_file)

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        row = self.frame.iloc[idx]
        return torch.tensor(row["x"], dtype=torch.float32), torch.tensor(
            row["y"], dtype=torch.float32)


def dataset_loader(ctx: RunContext) -> None:
    p = ctx.params
    # Example i is x = i, y = 2i + 1: a batch's x are the indices the loader drew.
    lines = ["x,y", *(f"{i},{2 * i + 1}" for i in range(p.examples))]
    dataset = CsvDataset(write_file(ctx.run_dir / "tiny.csv", "\n".join(lines) + "\n"))
    loader = DataLoader(dataset, batch_size=p.batch_size, shuffle=p.shuffle,
                        drop_last=p.drop_last)
    full, rest = divmod(len(dataset), p.batch_size)
    say(ctx, f"len(dataset) = {len(dataset)}; dataset[0] = (x, y) = {listed(list(dataset[0]))}; "
             f"batch_size {p.batch_size}: {full} full batches and "
             + (f"a last one of {rest}" if rest else "no partial one")
             + (" (dropped: drop_last=True)" if rest and p.drop_last else "")
             + f", so len(loader) = {len(loader)}")
    sizes: list[int] = []
    for epoch in range(1, p.epochs + 1):
        rows = []
        for i, (X, y) in enumerate(loader):  # a DataLoader is iterable: for calls iter() on it
            rows.append([i, len(X), listed(X), listed(y)])
        sizes = [row[1] for row in rows]
        if rows:
            table(ctx, f"epoch {epoch}", ["batch", "size", "x", "y"], rows)
        else:
            say(ctx, f"epoch {epoch}: no batch at all: the only batch held {rest} examples, "
                     "fewer than batch_size, and drop_last dropped it")
    ctx.metrics = {"examples": float(len(dataset)), "batches": float(len(loader)),
                   "last_batch": float(sizes[-1] if sizes else 0)}
