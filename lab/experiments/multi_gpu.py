"""Lectures 33–34: training on several devices. The hand-written data parallelism of lecture 33
(``multi-gpu``); the concise version is any classification experiment run with ``--nproc`` or
``--devices`` (DistributedDataParallel, lab/dist.py)."""

from __future__ import annotations

from lab.experiments.common import FASHION_MNIST_TRAIN, batch_size, epochs, lr
from lab.spec import Chapter, Experiment

PERFORMANCE = Chapter("computational-performance", "Computational performance", "计算性能")

MULTI_GPU = Experiment(
    id="multi-gpu",
    lecture=33,
    title_en="Multi-GPU training from scratch",
    title_zh="多GPU训练",
    chapter=PERFORMANCE,
    dataset="fashion-mnist",
    summary="Data parallelism written by hand: a LeNet with ReLU, written as functions of its "
    "eight tensors, trains on N devices (`d2l-lab run multi-gpu --nproc 2`, or --devices "
    "cuda:0,cuda:1), one process each. Every step the first process scatters a slice of the "
    "batch to each (dist.scatter, the book's split_batch), each computes its slice's gradients, "
    "an all-reduce sums them (dist.all_reduce, the book's allreduce) and every process takes the "
    "same SGD step with the whole batch's size, so all copies of the parameters stay equal. The "
    "book: test accuracy 0.82 in 10 epochs on one GPU, 0.81 on two, in about the same time "
    "(LeNet is too small to gain). DistributedDataParallel does the same for any classification "
    "experiment, overlapping the all-reduce with the backward pass.",
    try_this=(
        "Run it with --nproc 2 and compare its accuracy with one process: the steps are the same.",
        "Watch 'examples/s per process': each process does half the work of every batch.",
        "Set batch_size=512 and lr=0.4 with two processes: each keeps a batch of 256.",
    ),
    params=(lr(0.2), batch_size(256, FASHION_MNIST_TRAIN), epochs(10)),
    entry="lab.recipes.multi_gpu:train_lenet_by_hand",
    presets={"quick": {"epochs": 3}},
    book_result={"book": "test_acc 0.82"},
    notes="The book copies tensors between GPUs inside one process (nn.parallel.scatter, "
    "sums on cuda:0); the lab runs one process per device and uses torch.distributed's scatter "
    "and all_reduce, as DistributedDataParallel does, so it also runs on CPU processes (gloo).",
)

EXPERIMENTS = (MULTI_GPU,)
