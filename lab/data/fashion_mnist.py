"""Fashion-MNIST as whole uint8 tensors on the device (47 MB: small enough to keep there)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import torch

from lab.data import hub
from lab.data.idx import IdxError, read_idx

ID = "fashion-mnist"
CLASSES = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)


@dataclass
class Split:
    images: torch.Tensor  # uint8 [N, 28, 28] on the device; scaling to [0, 1] is the caller's
    labels: torch.Tensor  # int64 [N] on the device


def load(device: str | torch.device = "cpu",
         progress: hub.Progress | None = None) -> tuple[Split, Split]:
    """(train, test), found or downloaded through the hub."""
    hub.ensure(ID, progress)
    return _split("train", device), _split("t10k", device)


def _split(prefix: str, device: str | torch.device) -> Split:
    images_path = hub.file_path(ID, f"{prefix}-images-idx3-ubyte.gz")
    labels_path = hub.file_path(ID, f"{prefix}-labels-idx1-ubyte.gz")
    images, labels = _read(images_path), _read(labels_path)
    if images.dim() != 3 or tuple(images.shape[1:]) != (28, 28):
        _refuse(images_path, "wrong size: expected N×28×28 images, found "
                + "×".join(map(str, images.shape)))
    if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
        _refuse(labels_path, f"wrong size: {labels.numel()} labels in shape "
                f"{tuple(labels.shape)} for the {images.shape[0]} images of {images_path}")
    if labels.numel() and int(labels.max()) >= len(CLASSES):
        _refuse(labels_path, f"label {int(labels.max())} is not a class (0..9)")
    return Split(images.to(device), labels.to(device=device, dtype=torch.int64))


def _read(path: Path) -> torch.Tensor:
    try:
        return read_idx(path)
    except IdxError as e:  # the reader names the fault; say how to replace the file too
        raise IdxError(hub.damaged_message(ID, path, str(e))) from e


def _refuse(path: Path, fault: str) -> NoReturn:
    raise IdxError(hub.damaged_message(ID, path, f"{path}: {fault}"))
