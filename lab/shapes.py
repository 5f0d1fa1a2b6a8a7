"""What a network does to the shape of its input, layer by layer, as the book prints it::

    X = torch.rand(size=(1, 1, 28, 28))
    for layer in net:
        X = layer(X)
        print(layer.__class__.__name__, 'output shape:\\t', X.shape)

One row per top-level child of the network (a block that is itself an ``nn.Sequential``, like
VGG's, is one row, as in the book); a network without children (a scratch model) is one row.

The contract an experiment follows to show its network: the module of its recipe (the part of
``Experiment.entry`` before the colon) defines

    def build_net(params: Params, **options) -> tuple[nn.Module, tuple[int, ...]] | None

- called with the experiment's resolved parameters and, as keyword arguments, every entry of
  ``Experiment.options`` (take ``**_`` for those it does not need);
- returns the network exactly as the recipe would build it for those parameters, on the CPU,
  and the shape of one input including a batch dimension of 1, e.g. ``(1, 1, 28, 28)`` for
  LeNet or ``(1, 1, 224, 224)`` for AlexNet; the input given to it is ``torch.zeros(shape)``;
- returns None when these options have no network (a recipe shared by several experiments).

A recipe module without ``build_net`` has no network to show (demos, synthetic regressions).
Importing this module does not import torch (the TUI imports it on its UI thread); computing
shapes does.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.text import Text

from lab.spec import Experiment, Params

if TYPE_CHECKING:
    from torch import nn

Shape = tuple[int, ...]
ShapeRow = tuple[str, Shape]  # layer class name, output shape


class NoNetwork(LookupError):
    """The experiment has no network to show (its recipe module has no ``build_net``)."""

    def __str__(self) -> str:
        return self.args[0]


def layer_shapes(net: nn.Module, input_shape: Sequence[int]) -> list[ShapeRow]:
    """Run one input of zeros through ``net`` and note each top-level child's output shape, in
    the order the children ran."""
    import torch

    layers = list(net.children()) or [net]
    rows: list[ShapeRow] = []

    def record(module: nn.Module, _inputs: Any, output: Any) -> None:
        rows.append((type(module).__name__, _shape(output)))

    hooks = [layer.register_forward_hook(record) for layer in layers]
    training = net.training
    try:
        net.eval()  # batch norm refuses to train on a batch of one; shapes do not change
        with torch.no_grad():
            net(torch.zeros(tuple(input_shape)))
    finally:
        for hook in hooks:
            hook.remove()
        net.train(training)
    return rows


def _shape(output: Any) -> Shape:
    """A tensor's shape; for a tuple (an RNN's output and state), its first tensor's."""
    if isinstance(output, tuple | list):
        return _shape(output[0]) if output else ()
    return tuple(output.shape)


def experiment_shapes(exp: Experiment, params: Params) -> tuple[Shape, list[ShapeRow]]:
    """The input shape and the layer rows of ``exp``'s network for ``params``; NoNetwork when
    it has none. Errors of the network itself (an input too small for it) propagate."""
    module_name = exp.entry.partition(":")[0]
    build = getattr(importlib.import_module(module_name), "build_net", None)
    built = build(params, **exp.options) if build is not None else None
    if built is None:
        raise NoNetwork(f"no network to show for {exp.id}")
    net, input_shape = built
    return tuple(input_shape), layer_shapes(net, input_shape)


def format_shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def shapes_text(input_shape: Sequence[int], rows: Sequence[ShapeRow]) -> Text:
    """Two columns, layer and output shape, under a header and a dim row with the input.
    Text rather than a rich Table: Textual sizes a box to Text, not to a Table."""
    table = [("layer", "output shape"), ("input", format_shape(input_shape)),
             *((name, format_shape(shape)) for name, shape in rows)]
    width = max(len(name) for name, _ in table) + 2
    styles = ["bold", "dim"] + [""] * len(rows)
    return Text("\n").join(Text(name.ljust(width) + shape, style=style)
                           for (name, shape), style in zip(table, styles, strict=True))
