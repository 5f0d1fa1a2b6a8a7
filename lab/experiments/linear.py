"""Lectures 08–09: linear and softmax regression (declarations; the code is in lab.recipes)."""

from __future__ import annotations

from dataclasses import replace

from lab.experiments.common import (
    FASHION_MNIST_TRAIN,
    LINEAR,
    batch_size,
    epochs,
    lr,
    lr_schedule,
)
from lab.spec import Experiment

LINREG_EXAMPLES = 1000

_linreg_params = (lr(0.03), batch_size(10, LINREG_EXAMPLES), epochs(3))
_linreg_summary = (
    "Fit y = Xw + b to the book's synthetic data (true w = [2, -3.4], b = 4.2, noise 0.01, 1000 "
    "examples) with minibatch SGD. The loss falls to the noise floor within three epochs and the "
    "learned w, b land within 0.01 of the truth."
)

LINREG_SCRATCH = Experiment(
    id="linreg-scratch",
    lecture=8,
    title_en="Linear regression from scratch",
    title_zh="线性回归的从零开始实现",
    chapter=LINEAR,
    dataset=None,
    summary=_linreg_summary + " Everything is by hand: the model Xw + b, the squared loss "
    "(ŷ − y)²/2 summed over the batch, and sgd dividing by batch_size.",
    try_this=(
        "Set lr=0.003: three epochs are no longer enough.",
        "Set lr=0.5 or more and watch the loss blow up (the run stops as diverged).",
        "Set batch_size=1000: one step per epoch, full-batch gradient descent.",
    ),
    params=_linreg_params,
    entry="lab.recipes.linear:train_linreg",
    options={"impl": "scratch"},
    book_result={"book": "loss 0.000054"},
)

LINREG = replace(
    LINREG_SCRATCH,
    id="linreg",
    title_en="Linear regression, concise",
    title_zh="线性回归的简洁实现",
    summary=_linreg_summary + " Here with nn.Linear, nn.MSELoss (a mean without the ½, so its "
    "loss reads twice the scratch one) and torch.optim.SGD.",
    options={"impl": "concise"},
    book_result={"book": "loss 0.000097"},
)

_softmax_params = (lr(0.1), lr_schedule(), batch_size(256, FASHION_MNIST_TRAIN), epochs(10))
_softmax_summary = (
    "Classify Fashion-MNIST's 28×28 clothing images into 10 classes with one linear layer "
    "784→10 and softmax cross-entropy. The book reaches about 0.83 test accuracy in 10 epochs."
)
_softmax_try = (
    "Set lr=1 and compare the curves; lr=5 makes the loss jump around.",
    "Set batch_size=16: more steps per epoch, a noisier batch loss.",
    "Set epochs=30: the test accuracy stops improving long before the train loss does.",
)

SOFTMAX_SCRATCH = Experiment(
    id="softmax-scratch",
    lecture=9,
    title_en="Softmax regression from scratch",
    title_zh="softmax回归的从零开始实现",
    chapter=LINEAR,
    dataset="fashion-mnist",
    summary=_softmax_summary + " Written by hand: W ~ N(0, 0.01), softmax by exp and sum, the loss "
    "−log ŷ[y], and sgd on the summed loss divided by batch_size.",
    try_this=_softmax_try,
    params=_softmax_params,
    entry="lab.recipes.classify:train_fashion_mnist",
    options={"model": "softmax", "impl": "scratch"},
    presets={"quick": {"epochs": 3}},
    book_result={"book": "test_acc 0.834"},
    notes="The book's softmax exponentiates raw logits and can overflow; the lab keeps the book's "
    "formula (it is what the lecture teaches) and the NaN guard stops the run if it does.",
)

SOFTMAX = replace(
    SOFTMAX_SCRATCH,
    id="softmax",
    title_en="Softmax regression, concise",
    title_zh="softmax回归的简洁实现",
    summary=_softmax_summary + " With nn.Flatten + nn.Linear and nn.CrossEntropyLoss, which "
    "computes log-softmax stably (the LogSumExp trick).",
    options={"model": "softmax", "impl": "concise"},
    book_result={"book": "test_acc 0.829"},
    notes="",
)

EXPERIMENTS = (LINREG_SCRATCH, LINREG, SOFTMAX_SCRATCH, SOFTMAX)
