"""Layer-by-layer output shapes: the book's printout, from one input through the network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lab import catalog
from lab.shapes import NoNetwork, experiment_shapes, format_shape, layer_shapes


def test_each_top_level_layer_gives_its_exact_output_shape() -> None:
    net = nn.Sequential(nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
                        nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
                        nn.Linear(6 * 14 * 14, 10))
    assert layer_shapes(net, (1, 1, 28, 28)) == [
        ("Conv2d", (1, 6, 28, 28)),
        ("Sigmoid", (1, 6, 28, 28)),
        ("AvgPool2d", (1, 6, 14, 14)),
        ("Flatten", (1, 1176)),
        ("Linear", (1, 10)),
    ]


def test_a_block_that_is_itself_sequential_is_one_row() -> None:
    """VGG's blocks, as the book prints them: one line per block, not per layer inside."""
    block = nn.Sequential(nn.Conv2d(1, 4, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    net = nn.Sequential(block, nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    assert layer_shapes(net, (1, 1, 8, 8)) == [
        ("Sequential", (1, 4, 4, 4)), ("Flatten", (1, 64)), ("Linear", (1, 3))]


def test_a_network_without_children_is_one_row() -> None:
    class Scratch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.W = nn.Parameter(torch.zeros(784, 10))

        def forward(self, X: torch.Tensor) -> torch.Tensor:
            return X.reshape(-1, 784) @ self.W

    assert layer_shapes(Scratch(), (1, 1, 28, 28)) == [("Scratch", (1, 10))]


def test_batch_norm_takes_a_batch_of_one_and_the_net_is_left_as_it_was() -> None:
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    net.train()
    assert layer_shapes(net, (1, 4)) == [("Linear", (1, 3)), ("BatchNorm1d", (1, 3))]
    assert net.training and net[1].training
    assert all(not layer._forward_hooks for layer in net)  # the hooks are gone
    net.eval()
    layer_shapes(net, (1, 4))
    assert not net.training


def test_format_shape_reads_like_a_list() -> None:
    assert format_shape((1, 6, 28, 28)) == "[1, 6, 28, 28]"


@pytest.mark.parametrize(
    ("exp_id", "overrides", "rows"),
    [
        ("softmax", {}, [("Flatten", (1, 784)), ("Linear", (1, 10))]),
        ("mlp", {"num_hiddens": "32"},
         [("Flatten", (1, 784)), ("Linear", (1, 32)), ("ReLU", (1, 32)), ("Linear", (1, 10))]),
        ("mlp-scratch", {}, [("MLPScratch", (1, 10))]),
    ],
)
def test_an_experiment_shows_its_network_for_the_given_values(exp_id, overrides, rows) -> None:
    exp = catalog.get(exp_id)
    input_shape, found = experiment_shapes(exp, exp.resolve("book", overrides))
    assert input_shape == (1, 1, 28, 28)
    assert found == rows


@pytest.mark.parametrize("exp_id", ["activations", "linreg"])
def test_an_experiment_without_build_net_has_no_network_to_show(exp_id) -> None:
    exp = catalog.get(exp_id)
    with pytest.raises(NoNetwork, match=f"no network to show for {exp_id}"):
        experiment_shapes(exp, exp.resolve())


def test_lenet_prints_the_books_shapes() -> None:
    """The book's LeNet printout (6.6), once the CNN chapter has a lenet experiment."""
    try:
        exp = catalog.get("lenet")
        _, rows = experiment_shapes(exp, exp.resolve())
    except (catalog.UnknownExperiment, NoNetwork):
        pytest.skip("no lenet experiment with a build_net yet")
    assert rows == [
        ("Conv2d", (1, 6, 28, 28)), ("Sigmoid", (1, 6, 28, 28)), ("AvgPool2d", (1, 6, 14, 14)),
        ("Conv2d", (1, 16, 10, 10)), ("Sigmoid", (1, 16, 10, 10)), ("AvgPool2d", (1, 16, 5, 5)),
        ("Flatten", (1, 400)), ("Linear", (1, 120)), ("Sigmoid", (1, 120)),
        ("Linear", (1, 84)), ("Sigmoid", (1, 84)), ("Linear", (1, 10)),
    ]


@pytest.mark.parametrize("exp", catalog.experiments(), ids=lambda e: e.id)
def test_every_experiment_shows_its_network_or_says_it_has_none(exp) -> None:
    """`show --shapes` and the Shapes panel call this for any experiment: rows or NoNetwork,
    never a crash (the encoder-decoders once broke the build_net contract)."""
    try:
        input_shape, rows = experiment_shapes(exp, exp.resolve("quick"))
    except NoNetwork as e:
        assert exp.id in str(e)
        return
    assert input_shape[0] == 1 and rows
