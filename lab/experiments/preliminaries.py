"""Lectures 04–07: tensors, data preprocessing, Dataset and DataLoader, linear algebra and
automatic differentiation, as small demos whose answers are exact."""

from __future__ import annotations

import math

from lab.experiments.common import PRELIMINARIES, batch_size, epochs
from lab.shapes_text import (
    Shape,
    TextError,
    checker,
    parse_matrix,
    parse_shape,
    parse_vector,
)
from lab.spec import Experiment, Param, Value

BROADCAST = {"least": 0, "dims": (0, 6)}  # a shape to broadcast: a scalar's () and 0 allowed
SOURCE_ELEMENTS = 12  # view and reshape start from torch.arange(12)


def parse_new_shape(text: str) -> Shape:
    """A shape for torch.arange(12) to take: its sizes must multiply to 12."""
    shape = parse_shape(text)
    if math.prod(shape) != SOURCE_ELEMENTS:
        raise TextError(f"the sizes must multiply to {SOURCE_ELEMENTS}, as arange(12) has 12 "
                        "elements")
    return shape


def _not_zero(value: Value) -> str | None:
    if abs(float(value)) < 1e-6:
        return "must be at least 1e-6 away from 0: f doubles b until ‖b‖ ≥ 1000, which 0 " \
            "never reaches"
    return None


def _shape(name: str, default: str, which: str) -> Param:
    return Param(name, str, default, f"shape of {which}, e.g. 3,1 or (2, 3, 4); () is a scalar",
                 check=checker(parse_shape, **BROADCAST))


TENSORS = Experiment(
    id="tensors",
    lecture=4,
    title_en="Data manipulation",
    title_zh="数据操作",
    chapter=PRELIMINARIES,
    dataset=None,
    summary="The n-dimensional array, torch's tensor. Broadcasting: two shapes are aligned from "
    "the right and each pair of sizes must be equal or one of them 1 (a missing dimension "
    "counts as 1), which is repeated; a (3, 1) and a (1, 2) give (3, 2), the book's example. "
    "view reinterprets a tensor's memory with new sizes and never copies, so it fails on a "
    "transposed (non-contiguous) tensor; reshape returns a view when it can and a copy when it "
    "must; .contiguous() makes the copy, after which view works. torch.tensor(ndarray) copies "
    "the data, torch.from_numpy shares it: change the array and only the second sees it. Last, "
    "one matrix product in float32 and in float64, timed on this machine.",
    try_this=(
        "Set shape_b=3: a (3, 1) and a (3,) give (3, 3), each a row of b.",
        "Set shape_a=2,3 and shape_b=3,2: the last sizes 3 and 2 differ and neither is 1.",
        "Set new_shape=2,2,3: view of the transpose works for this shape.",
        "Set matmul_size=1024 and compare float64's time with float32's.",
    ),
    params=(
        _shape("shape_a", "3,1", "a"),
        _shape("shape_b", "1,2", "b"),
        Param("new_shape", str, "2,6", "what view and reshape turn arange(12) (as 3×4) into; "
              "its sizes multiply to 12", check=checker(parse_new_shape)),
        Param("matmul_size", int, 256, "n of the n×n matrix product timed in float32 and "
              "float64", min=1, max=1024),
    ),
    entry="lab.recipes.prelim_tensors:tensors",
    demo=True,
    book_result={"book": "a (3, 1) + b (1, 2) → (3, 2): [[0, 1], [1, 2], [2, 3]] (exact)"},
    notes="The float32/float64 timing is this machine's own: it is shown, never compared with "
    "a number. view, reshape and the NumPy memory are the course notes' examples, not the "
    "book's.",
)

PREPROCESS = Experiment(
    id="preprocess",
    lecture=4,
    title_en="Data preprocessing",
    title_zh="数据预处理",
    chapter=PRELIMINARIES,
    dataset=None,
    summary="The book writes a tiny CSV of houses (NumRooms, Alley, Price) with missing values, "
    "reads it with pandas, fills the missing NumRooms with the mean of the others (3), turns "
    "the categorical Alley into one 0/1 column per value, missing (NaN) included, and converts "
    "the inputs and the prices to tensors. Each step is shown as a table.",
    try_this=(
        "Set fill=median or fill=zero and watch rows 0 and 3 of NumRooms.",
        "Set dummy_na=false: the Alley_nan column disappears, and a missing alley is all zeros.",
    ),
    params=(
        Param("fill", str, "mean", "what replaces a missing number: the column's mean (the "
              "book), median, or zero", choices=("mean", "median", "zero")),
        Param("dummy_na", bool, True, "give missing values a 0/1 column of their own"),
    ),
    entry="lab.recipes.prelim_data:preprocess",
    demo=True,
    book_result={"book": "X [[3, 1, 0], [2, 0, 1], [4, 0, 1], [3, 0, 1]] (exact)"},
    notes="The book's code breaks on pandas 2 and later twice, fixed here: inputs.mean() "
    "raises on the text column Alley, so the mean is taken with numeric_only=True; and "
    "get_dummies makes bool columns, which torch.tensor(inputs.values) cannot take, so the "
    "values are converted with to_numpy(dtype=float). The CSV is written into the run's "
    "folder instead of ../data.",
)

DATASET_LOADER = Experiment(
    id="dataset-loader",
    lecture=4,
    title_en="Dataset and DataLoader",
    title_zh="Dataset 与 DataLoader",
    chapter=PRELIMINARIES,
    dataset=None,
    summary="A custom Dataset implements three methods: __init__ (here: read a small CSV of "
    "examples x = i, y = 2i + 1), __len__ (how many examples) and __getitem__ (example i as "
    "tensors). A DataLoader wraps it and yields batches: batch_size examples each, in a new "
    "random order every epoch if shuffle is on, the last batch smaller unless drop_last drops "
    "it. The batches of each epoch are shown; a batch's x are the indices it drew.",
    try_this=(
        "Set shuffle=false: every epoch yields 0–3, 4–7, 8–9.",
        "Set drop_last=true: the last batch of 2 is dropped, len(loader) is 2.",
        "Set batch_size=20 with drop_last=true: the epoch yields no batch at all.",
    ),
    params=(
        Param("examples", int, 10, "rows of the CSV, the Dataset's length", min=1, max=100),
        batch_size(4, 100),
        Param("shuffle", bool, True, "a new random order every epoch"),
        Param("drop_last", bool, False, "drop the last batch if it is smaller than batch_size"),
        epochs(2, most=5),
    ),
    entry="lab.recipes.prelim_data:dataset_loader",
    demo=True,
    book_result={"book": "batches 3 of 4, 4, 2 (course notes; no book output)"},
    notes="From the course notes' supplement on Dataset and DataLoader (the PyTorch tutorial); "
    "the book has no such section. The loader reads in the main process (num_workers=0).",
)

LINEAR_ALGEBRA = Experiment(
    id="linear-algebra",
    lecture=5,
    title_en="Linear algebra",
    title_zh="线性代数",
    chapter=PRELIMINARIES,
    dataset=None,
    summary="Norms measure size: the L1 norm of u = [3, −4] is 7 (the sum of absolute values), "
    "its L2 norm 5 (the root of the sum of squares), and the Frobenius norm of a matrix is the "
    "L2 norm of all its entries. Summing along an axis removes it unless keepdims=True keeps it "
    "as size 1, which is what lets A / A.sum(axis=1, keepdims=True) divide each row by its sum; "
    "cumsum keeps the shape and adds up along the axis. The Hadamard product A * B multiplies "
    "entry by entry; the matrix product A @ B.T takes dot products of rows.",
    try_this=(
        "Set matrix=1,2;3,4: without keepdims a square A divides silently by the wrong sums.",
        "Set vector=1,1,1,1: L1 is 4, L2 is 2.",
        "Set matrix=1,2,3: one row; A @ A.T is the 1×1 squared norm.",
    ),
    params=(
        Param("vector", str, "3,-4", "the vector u of the norms, e.g. 3,-4",
              check=checker(parse_vector)),
        Param("matrix", str, "0,1,2,3;4,5,6,7;8,9,10,11;12,13,14,15;16,17,18,19",
              "the matrix A: rows split by ';', entries by ',' (the book's arange(20) as 5×4)",
              check=checker(parse_matrix)),
    ),
    entry="lab.recipes.prelim_algebra:linear_algebra",
    demo=True,
    book_result={"book": "l2 5 · l1 7 · sum 190 (exact)"},
)

AUTOGRAD = Experiment(
    id="autograd",
    lecture=7,
    title_en="Matrix calculus and automatic differentiation",
    title_zh="矩阵计算 + 自动求导",
    chapter=PRELIMINARIES,
    dataset=None,
    summary="The gradient of y = 2·xᵀx is 4x: for x = [1, 2, 3, 4], y.backward() gives "
    "[4, 8, 12, 16]. Gradients accumulate: a second backward (the graph kept by "
    "retain_graph=True) adds another 4x, [8, 16, 24, 32], until x.grad.zero_() clears it. "
    "detach() turns a value into a constant the gradient does not flow through. A function with "
    "a while loop and an if still has a gradient: autograd follows the path taken. Lecture 06's "
    "Jacobian: torch.autograd.functional.jacobian of a function ℝⁿ → ℝ³ is 3×n, in numerator "
    "layout, one row per output and one column per input.",
    try_this=(
        "Set x=1,0,-1: the gradient is still 4x, entry by entry.",
        "Set a=-1.5: f takes the else branch, and a.grad is 100× larger.",
        "Set x=2: the Jacobian has one column; row 2, x₀·x₀, has 2x₀ = 4.",
    ),
    params=(
        Param("x", str, "1,2,3,4", "the vector x, e.g. 1,2,3,4", check=checker(parse_vector)),
        Param("a", float, 1.5, "the input of the function with control flow (not 0)", min=-1e6,
              max=1e6, check=_not_zero),
    ),
    entry="lab.recipes.prelim_autograd:autograd",
    demo=True,
    book_result={"book": "x.grad [4, 8, 12, 16], then [8, 16, 24, 32] (exact)"},
    notes="The book draws the control-flow input at random (torch.randn); here it is a "
    "parameter, so the path it takes can be chosen. The accumulation and the Jacobian are the "
    "course notes' examples.",
)

EXPERIMENTS = (TENSORS, PREPROCESS, DATASET_LOADER, LINEAR_ALGEBRA, AUTOGRAD)
