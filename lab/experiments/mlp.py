"""Lecture 10: the multilayer perceptron and its activation functions."""

from __future__ import annotations

from dataclasses import replace

from lab.experiments.common import (
    FASHION_MNIST_TRAIN,
    MLP,
    batch_size,
    epochs,
    impl,
    lr,
    lr_schedule,
    probability,
)
from lab.spec import Experiment, Param

_mlp_params = (
    lr(0.1),
    lr_schedule(),
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
    book_result={"book": "test_acc 0.824"},
)

MLP_CONCISE = replace(
    MLP_SCRATCH,
    id="mlp",
    title_en="Multilayer perceptron, concise",
    title_zh="多层感知机的简洁实现",
    summary=_mlp_summary + " With nn.Sequential(Flatten, Linear, ReLU, Linear).",
    options={"model": "mlp", "impl": "concise"},
    book_result={"book": "test_acc 0.844"},
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
    book_result={"book": "max_grad 1.0"},
)

POLYFIT = Experiment(
    id="polyfit",
    lecture=11,
    title_en="Model selection, underfitting and overfitting",
    title_zh="模型选择、欠拟合和过拟合",
    chapter=MLP,
    dataset=None,
    summary="Fit a polynomial to the book's data: y = 5 + 1.2x − 3.4x²/2! + 5.6x³/3! + noise, "
    "100 training and 100 test points, features x^i/i! up to degree 19. With the right degree "
    "(4 weights) train and test loss fall together and the weights come out near the truth; with "
    "2 the model cannot fit (both losses stay high: underfitting); with all 20 it fits the noise "
    "of the training set and the test loss stays above the train loss (overfitting).",
    try_this=(
        "Run the presets cubic, underfit and overfit and compare where the two curves end.",
        "In overfit, look at the learned weights past the 4th: the truth is 0 there.",
        "Set degree=20 and epochs=50: too little training hides overfitting.",
    ),
    params=(
        Param("degree", int, 4, "how many features (powers x^0 … x^(d−1)) the model sees",
              min=1, max=20),
        lr(0.01),
        batch_size(10, 100),
        epochs(400, most=5000),
    ),
    entry="lab.recipes.regularization:train_polyfit",
    presets={"cubic": {}, "underfit": {"degree": 2}, "overfit": {"degree": 20, "epochs": 1500}},
    book_result={"book": "train_loss 0.0113 · test_loss 0.0130",
                 "underfit": "train_loss 3.20 · test_loss 11.9",
                 "overfit": "train_loss 0.0107 · test_loss 0.0199"},
    log_loss=True,
)

WEIGHT_DECAY = Experiment(
    id="weight-decay",
    lecture=12,
    title_en="Weight decay",
    title_zh="权重衰减",
    chapter=MLP,
    dataset=None,
    summary="A linear model with 200 inputs learns from only 20 examples (y = 0.05 + Σ 0.01·x_i + "
    "noise): it can fit them perfectly and generalise terribly. Adding λ‖w‖²/2 to the loss keeps "
    "the weights small: with λ = 0 the train loss vanishes while the test loss stays near 100 "
    "and ‖w‖ ≈ 13; with λ = 3 the test loss falls below 1 and ‖w‖ ≈ 0.4.",
    try_this=(
        "Run the book preset (λ = 0), then the decay preset (λ = 3), and compare the test loss.",
        "Try λ = 30: the weights are pulled to zero and the model underfits.",
        "Switch impl to concise: weight_decay in torch.optim.SGD does the same, bias excepted.",
    ),
    params=(
        impl(),
        Param("lambda", float, 0.0, "weight decay λ: the penalty λ‖w‖²/2", min=0, max=1000),
        lr(0.003),
        batch_size(5, 20),
        epochs(100),
    ),
    entry="lab.recipes.regularization:train_weight_decay",
    presets={"decay": {"lambda": 3.0}},
    book_result={"book": "w_norm 12.96 · test_loss 98.4",
                 "decay": "w_norm 0.381 · test_loss 0.087"},
    log_loss=True,
    notes="The scratch loss is (ŷ − y)²/2 and the concise one nn.MSELoss (no ½), so the concise "
    "losses read twice the scratch ones, as in the book.",
)

DROPOUT = Experiment(
    id="dropout",
    lecture=13,
    title_en="Dropout",
    title_zh="暂退法（Dropout）",
    chapter=MLP,
    dataset="fashion-mnist",
    summary="An MLP with two hidden layers of 256 units drops each hidden unit with probability "
    "0.2 (first layer) and 0.5 (second) while training, scaling the rest by 1/(1 − p). At test "
    "time nothing is dropped. The noise keeps units from co-adapting; the book reaches about "
    "0.86 test accuracy (scratch) in 10 epochs.",
    try_this=(
        "Set dropout1=0 and dropout2=0 and compare train and test accuracy with the defaults.",
        "Set dropout2=0.9: training gets noisy and slow.",
        "Switch impl to concise: nn.Dropout does the same inside nn.Sequential.",
    ),
    params=(
        impl(),
        probability("dropout1", 0.2, "drop probability after the first hidden layer"),
        probability("dropout2", 0.5, "drop probability after the second hidden layer"),
        lr(0.5),
        lr_schedule(),
        batch_size(256, FASHION_MNIST_TRAIN),
        epochs(10),
    ),
    entry="lab.recipes.classify:train_fashion_mnist",
    options={"model": "dropout"},
    presets={"quick": {"epochs": 3}},
    book_result={"book": "test_acc 0.864"},
)

INIT_STABILITY = Experiment(
    id="init-stability",
    lecture=14,
    title_en="Numerical stability and initialization",
    title_zh="数值稳定性和模型初始化",
    chapter=MLP,
    dataset="fashion-mnist",
    summary="First the book's two pictures: the sigmoid's gradient (never above 0.25, near 0 for "
    "large |x|) and the product of 100 random 4×4 matrices (entries grow to ~1e25). Then train a "
    "deep MLP and watch each layer's weight-gradient norm live (figure view): with sigmoid and "
    "weights ~ N(0, 1) the first layer's gradient is ~1000× smaller than the last one's and it "
    "barely learns; tanh with N(0, 1) explodes the other way; Xavier initialisation with tanh "
    "keeps every layer's gradient within a few times of the others.",
    try_this=(
        "Run the presets vanishing, exploding and xavier and compare the gradient figure.",
        "Set activation=sigmoid with init=xavier: Xavier assumes a slope of 1 near 0, but the "
        "sigmoid's is 1/4, so gradients still shrink about 4× per layer.",
        "Set activation=relu and std=0.01: every gradient is tiny and nothing learns.",
    ),
    params=(
        Param("depth", int, 15, "hidden layers", min=1, max=50),
        Param("width", int, 16, "units per hidden layer", min=1, max=1024),
        Param("activation", str, "sigmoid", "the hidden layers' activation",
              choices=("sigmoid", "tanh", "relu")),
        Param("init", str, "normal", "weights ~ N(0, std²), or Xavier-uniform",
              choices=("normal", "xavier")),
        Param("std", float, 1.0, "standard deviation of normal initialisation", min=0,
              max=100, min_exclusive=True),
        lr(0.1),
        batch_size(256, FASHION_MNIST_TRAIN),
        epochs(3),
    ),
    entry="lab.recipes.init_stability:train_init_stability",
    resumable=False,  # its figure compares the first batch's gradients with the latest
    presets={
        "vanishing": {},
        "exploding": {"activation": "tanh"},
        "xavier": {"activation": "tanh", "init": "xavier"},
        "quick": {"epochs": 1},
    },
    book_result={"book": "(the book trains no such net)"},
    notes="The book only shows the two pictures; the trainable deep MLP is the lab's, so that "
    "vanishing and exploding gradients can be seen as they happen.",
)

EXPERIMENTS = (MLP_SCRATCH, MLP_CONCISE, ACTIVATIONS, POLYFIT, WEIGHT_DECAY, DROPOUT,
               INIT_STABILITY)
