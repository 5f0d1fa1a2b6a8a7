"""Lecture 10: the multilayer perceptron and its activation functions."""

from __future__ import annotations

from dataclasses import replace

from lab.experiments.common import FASHION_MNIST_TRAIN, MLP, batch_size, epochs, lr
from lab.spec import Experiment, Param

_mlp_params = (
    lr(0.1),
    batch_size(256, FASHION_MNIST_TRAIN),
    epochs(10),
    Param("num_hiddens", int, 256, "units in the hidden layer", min=1, max=8192),
)
_mlp_summary = (
    "A hidden layer of 256 ReLU units between the 784 pixels and the 10 classes turns softmax "
    "regression into a multilayer perceptron. The book reaches about 0.84 test accuracy in 10 "
    "epochs, a little better than softmax regression."
)
_mlp_try = (
    "Set num_hiddens=16 and then 1024: more capacity, but not much more test accuracy.",
    "Set lr=0.5: faster at first; lr=5 diverges.",
    "Set epochs=30 and watch train and test accuracy drift apart.",
)

MLP_SCRATCH = Experiment(
    id="mlp-scratch",
    lecture=10,
    title_en="Multilayer perceptron from scratch",
    title_zh="多层感知机的从零开始实现",
    chapter=MLP,
    dataset="fashion-mnist",
    summary=_mlp_summary + " By hand: W1, W2 = randn × 0.01 as parameters and relu = max(X, 0).",
    try_this=_mlp_try,
    params=_mlp_params,
    entry="lab.recipes.classify:train_fashion_mnist",
    options={"model": "mlp", "impl": "scratch"},
    presets={"quick": {"epochs": 3}},
)

MLP_CONCISE = replace(
    MLP_SCRATCH,
    id="mlp",
    title_en="Multilayer perceptron, concise",
    title_zh="多层感知机的简洁实现",
    summary=_mlp_summary + " With nn.Sequential(Flatten, Linear, ReLU, Linear).",
    options={"model": "mlp", "impl": "concise"},
)

ACTIVATIONS = Experiment(
    id="activations",
    lecture=10,
    title_en="Activation functions",
    title_zh="激活函数",
    chapter=MLP,
    dataset=None,
    summary="ReLU, sigmoid and tanh over x in [-8, 8) with their gradients computed by autograd, "
    "as the book plots them. The sigmoid's gradient is at most 0.25 and tanh's at most 1: stacked "
    "layers multiply these, which is why deep sigmoid nets learn slowly.",
    try_this=(
        "Switch activation to sigmoid and read the gradient's peak at x = 0.",
        "Compare tanh: the same S shape, but centred on 0 and a gradient four times larger.",
    ),
    params=(
        Param("activation", str, "relu", "the function to plot",
              choices=("relu", "sigmoid", "tanh")),
    ),
    entry="lab.recipes.activations:plot_activation",
    demo=True,
)

EXPERIMENTS = (MLP_SCRATCH, MLP_CONCISE, ACTIVATIONS)
