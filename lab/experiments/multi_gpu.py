"""Lectures 33–34: training on several devices. The hand-written data parallelism of lecture 33
(``multi-gpu``) and the concise version of lecture 34 (``multi-gpu-concise``: its ResNet-18 in
DistributedDataParallel, as any classification experiment run with ``--nproc`` or
``--devices``, lab/dist.py)."""

from __future__ import annotations

from lab.experiments.common import (
    FASHION_MNIST_TRAIN,
    accelerator_params,
    batch_size,
    epochs,
    lr,
    lr_schedule,
    resize,
    subset,
)
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

MULTI_GPU_CONCISE = Experiment(
    id="multi-gpu-concise",
    lecture=34,
    title_en="Multi-GPU training, concise",
    title_zh="多GPU的简洁实现",
    chapter=PERFORMANCE,
    dataset="fashion-mnist",
    summary="The same data parallelism without writing it: the lecture's ResNet-18 for 28×28 "
    "images (a 3×3 first convolution, no max-pool) wrapped in DistributedDataParallel, one "
    "process per device (`d2l-lab run multi-gpu-concise --nproc 2`, or --devices "
    "cuda:0,cuda:1). Where lecture 33 scatters the batch and all-reduces every gradient by "
    "hand after the backward pass, DDP all-reduces the gradients in buckets while the backward "
    "pass is still running, so the communication hides behind the computation. Before training "
    "each process times a few steps on a copy of the network alone; each epoch's examples/s per "
    "process, and at the end the scaling efficiency (examples/s together over the sum of each "
    "alone), show what the communication costs. The book: test accuracy 0.91 on one GPU (batch "
    "256, lr 0.1) and 0.88 on two (batch 512, lr 0.2), 14.1 and 9.2 s per epoch.",
    try_this=(
        "Run it with --nproc 2 and batch_size=512, lr=0.2, as the book's two GPUs: each "
        "process keeps a batch of 256.",
        "Compare the scaling efficiency of this ResNet with multi-gpu's small LeNet: the "
        "larger the computation per gradient byte, the less communication costs.",
        "Run it alone (no --nproc): the same network on one device, the yardstick.",
    ),
    params=(lr(0.1), lr_schedule(), batch_size(256, FASHION_MNIST_TRAIN), epochs(10),
            resize(28), subset(FASHION_MNIST_TRAIN), *accelerator_params()),
    entry="lab.recipes.cnn:train_cnn",
    options={"model": "resnet18-small", "init": "normal"},
    # 28×28 images at full width through all four stages: on 2 CPU cores the test pass over
    # all 10000 images alone takes minutes. This is GPU work; quick shows the mechanics.
    presets={"quick": {"epochs": 1, "subset": 3000, "batch_size": 64}},
    book_result={"book": "test_acc 0.91"},
    notes="The book wraps the network in nn.DataParallel (one process driving every GPU, the "
    "batch split and the gradients gathered on cuda:0); PyTorch recommends "
    "DistributedDataParallel, one process per device, which the lab uses, so it also runs on "
    "CPU processes (gloo). Weights ~ N(0, 0.01²) as in the book. Each process keeps the "
    "BatchNorm statistics of its own shards; the first process's are checkpointed. On CUDA "
    "each training step, DDP's all-reduce included, replays as one CUDA graph (captured after "
    "11 eager steps, as PyTorch asks for DDP), like a single-device run's step.",
)

EXPERIMENTS = (MULTI_GPU, MULTI_GPU_CONCISE)
