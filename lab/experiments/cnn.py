"""Lectures 19–29: convolutions by hand, then LeNet through ResNet and DenseNet on Fashion-MNIST."""

from __future__ import annotations

from collections.abc import Mapping

from lab.experiments.common import (
    CNN,
    FASHION_MNIST_TRAIN,
    accelerator_params,
    batch_size,
    epochs,
    impl,
    lr,
    lr_schedule,
    resize,
    subset,
)
from lab.spec import Experiment, Param, Value

CONV_EDGE = Experiment(
    id="conv-edge",
    lecture=19,
    title_en="Convolutional layers",
    title_zh="卷积层",
    chapter=CNN,
    dataset=None,
    summary="The book's checks of lectures 19–22, step by step: cross-correlation by hand "
    "(corr2d), a [1, −1] kernel that finds the vertical edges of a 6×8 image, output shapes with "
    "padding and stride, several input and output channels, a 1×1 convolution as a matrix "
    "product, and max and average pooling. Then a Conv2d(1, 1, (1, 2)) learns the edge kernel "
    "from X and Y alone: after 10 gradient steps it is close to [1, −1] (the book: "
    "[1.0099, −0.9607]).",
    try_this=(
        "Set iterations=30 and watch the loss fall below 1e-4.",
        "Set lr=0.05: each step overshoots, and the loss grows instead of falling.",
        "Read the padding shapes: with kernel k, padding (k−1)/2 keeps height and width.",
    ),
    params=(
        Param("iterations", int, 10, "gradient steps on the kernel", min=1, max=1000),
        Param("lr", float, 3e-2, "step size of the update w -= lr·grad", min=0, max=10,
              min_exclusive=True),
    ),
    entry="lab.recipes.conv_basics:conv_edge",
    demo=True,
    book_result={"book": "kernel_error 0.0393"},  # its kernel [1.0099, −0.9607]
)

_CNN_NOTES = (
    "Images are resized batched on the device by bilinear interpolation, which matches the "
    "book's PIL Resize to within one grey level. `subset` trains on the first N training images; "
    "the test accuracy is always over all 10000 test images. On CUDA the lab uses channels_last, "
    "bf16 autocast (param bf16) and cudnn.benchmark; on the CPU it computes in float32 as the book."
)


def _cnn(id: str, lecture: int, title_en: str, title_zh: str, summary: str,
         try_this: tuple[str, ...], *, rate: float, batch: int, side: int, least: int,
         quick: Mapping[str, Value], book: str, extra: tuple[Param, ...] = (),
         notes: str = "") -> Experiment:
    """A train_ch6 experiment: the book's lr, batch size and resize, 10 epochs."""
    return Experiment(
        id=id, lecture=lecture, title_en=title_en, title_zh=title_zh, chapter=CNN,
        dataset="fashion-mnist", summary=summary, try_this=try_this,
        params=(*extra, lr(rate), lr_schedule(), batch_size(batch, FASHION_MNIST_TRAIN),
                epochs(10),
                resize(side, least), subset(FASHION_MNIST_TRAIN), *accelerator_params()),
        entry="lab.recipes.cnn:train_cnn", options={"model": id}, presets={"quick": quick},
        notes=" ".join(filter(None, (notes, _CNN_NOTES))), book_result={"book": book},
    )


LENET = _cnn(
    "lenet", 23, "LeNet", "卷积神经网络（LeNet）",
    "LeNet-5: two 5×5 convolutions, each followed by a sigmoid and 2×2 average pooling, then "
    "dense layers of 120, 84 and 10 units. Convolutions keep the image's 2-D structure and share "
    "their weights across positions, so LeNet has ~60k parameters where an MLP on the same "
    "pixels has hundreds of thousands. The book: train accuracy 0.824, test 0.776 after 10 "
    "epochs at lr 0.9.",
    ("Set lr=0.1: sigmoid nets learn slowly; 0.9 is not a typo.",
     "Set epochs=20: does the test accuracy keep up with the train accuracy?",
     "Set resize=32, LeNet's original input size: the first dense layer grows to 576 inputs."),
    rate=0.9, batch=256, side=28, least=28, quick={"epochs": 5}, book="test_acc 0.776",
)

ALEXNET = _cnn(
    "alexnet", 24, "Deep convolutional neural networks (AlexNet)", "深度卷积神经网络（AlexNet）",
    "AlexNet (2012) started the deep-learning boom: five convolutions (the first 11×11 with "
    "stride 4) with ReLU and 3×3 max pooling, then two dense layers of 4096 units with dropout. "
    "Fashion-MNIST is enlarged to 224×224, the size of the ImageNet images it was designed for. "
    "The book: test accuracy 0.879 after 10 epochs at lr 0.01.",
    ("Compare the quick preset's accuracy with LeNet's: a much bigger net, on small images.",
     "Set lr=0.1 and watch the loss in the first epoch.",
     "Look at the shapes: the dense layers hold almost all of AlexNet's 47 million parameters."),
    rate=0.01, batch=128, side=224, least=65,
    # On small images at lr 0.01 AlexNet sits at chance for ~800 batches; quick takes bigger steps.
    quick={"resize": 65, "subset": 10000, "epochs": 2, "batch_size": 64, "lr": 0.1},
    book="test_acc 0.879",
)

VGG = _cnn(
    "vgg", 25, "Networks using blocks (VGG)", "使用块的网络（VGG）",
    "VGG builds a network from one repeated block: n 3×3 convolutions with padding 1 and ReLU, "
    "then a 2×2 max-pool that halves height and width. VGG-11 is 5 blocks, 8 convolutions "
    "((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)), and 3 dense layers; the book divides "
    "every block's channels by ratio = 4 to train it in time. The book: test accuracy 0.916 after "
    "10 epochs at lr 0.05.",
    ("Set ratio=8: half the channels again, and see how much accuracy that costs.",
     "Each block halves the image: at resize=32 the last block sees a single pixel.",
     "Compare the time per epoch with AlexNet's at the same resize."),
    rate=0.05, batch=128, side=224, least=32,
    quick={"resize": 32, "subset": 19200, "epochs": 2, "batch_size": 32},
    book="test_acc 0.916",
    extra=(Param("ratio", int, 4, "divide VGG-11's channels by this", min=1, max=64),),
)

NIN = _cnn(
    "nin", 26, "Network in network (NiN)", "网络中的网络（NiN）",
    "NiN follows each convolution with two 1×1 convolutions (a small MLP at every pixel) and has "
    "no dense layers at all: the last block has 10 channels, one per class, averaged over the "
    "image by global average pooling. That saves AlexNet's tens of millions of dense weights. "
    "The book: test accuracy 0.865 after 10 epochs at lr 0.1.",
    ("Compare the sizes: 2.0 million parameters here, 46.8 million in AlexNet.",
     "In the quick preset set lr=0.1, the book's: after 2 epochs NiN is still at chance.",
     "Watch the batch losses: NiN sits at ln 10 ≈ 2.303 (chance) for hundreds of batches "
     "before it starts to learn."),
    rate=0.1, batch=128, side=224, least=67,
    # At the book's lr 0.1 this small run ends still at chance (test 0.30 after 2 epochs).
    quick={"resize": 67, "subset": 19200, "epochs": 3, "batch_size": 32, "lr": 0.05},
    book="test_acc 0.865",
)

GOOGLENET = _cnn(
    "googlenet", 27, "Networks with parallel concatenations (GoogLeNet)",
    "含并行连结的网络（GoogLeNet）",
    "GoogLeNet's Inception block runs four paths side by side — a 1×1 convolution, 1×1 then "
    "3×3, 1×1 then 5×5, 3×3 max-pool then 1×1 — and concatenates their channels; the 1×1 "
    "convolutions keep the cost down. Nine Inception blocks in five stages, global average "
    "pooling and one dense layer. Images are enlarged to 96×96. The book: test accuracy 0.888 "
    "after 10 epochs at lr 0.1.",
    ("Set resize=28: the network still runs (every stage halves the image down to 1×1).",
     "Compare with NiN: both end in global average pooling.",
     "Look at the shapes: 64×24×24, 192×12×12, 480×6×6, 832×3×3, 1024 at 96×96."),
    rate=0.1, batch=128, side=96, least=28,
    quick={"resize": 28, "subset": 19200, "epochs": 2, "batch_size": 32},
    book="test_acc 0.888",
)

BATCHNORM = _cnn(
    "batchnorm", 28, "Batch normalization", "批量规范化",
    "Batch normalization standardises every channel (or feature) over the minibatch, then "
    "scales it by a learned γ and shifts it by β; when predicting, it uses moving averages of the "
    "batch statistics instead. After every convolution and hidden dense layer of LeNet, it lets "
    "the sigmoid net train with lr 1.0. The book: test accuracy 0.795 (scratch) and 0.880 "
    "(concise); the γ and β of the first BN layer are printed at the end.",
    ("Compare with lenet's test accuracy after the same number of epochs.",
     "Run batchnorm and lenet with lr=0.1 and compare how far each gets in 5 epochs.",
     "Switch impl to concise: nn.BatchNorm2d and nn.BatchNorm1d do the same, faster."),
    rate=1.0, batch=256, side=28, least=28, quick={"epochs": 5}, extra=(impl(),),
    book="test_acc 0.795",  # scratch, the default (concise: 0.880)
    notes="The scratch BatchNorm tells training from prediction by torch.is_grad_enabled(), the "
    "book's trick (evaluation runs under no_grad); checking self.training, which net.train() "
    "and net.eval() set, would say the same more plainly. Its moving averages are buffers, so "
    "they follow the model to the device and into the checkpoint. It keeps the biased batch "
    "variance where nn.BatchNorm keeps the unbiased one.",
)

RESNET = _cnn(
    "resnet", 29, "Residual networks (ResNet)", "残差网络（ResNet）",
    "ResNet adds each block's input to its output, y = f(x) + x, so a block only has to learn a "
    "residual and very deep nets remain trainable. ResNet-18: a GoogLeNet-like stem with batch "
    "norm, four stages of two residual blocks (64, 128, 256, 512 channels; stages 2–4 halve the "
    "size through a 1×1 convolution on the shortcut), global average pooling, one dense layer. "
    "Images 96×96. The book: train accuracy 0.995, test 0.919 — it overfits.",
    ("Watch train and test accuracy drift apart after a few epochs.",
     "Set resize=28: every stage still has at least one pixel, and it is 10× faster.",
     "Set lr=0.2: does batch norm keep the 18-layer net stable at larger steps?"),
    rate=0.05, batch=256, side=96, least=28,
    quick={"resize": 28, "subset": 20000, "epochs": 2, "batch_size": 64},
    book="test_acc 0.919",
)

DENSENET = _cnn(
    "densenet", 29, "Densely connected networks (DenseNet)", "稠密连接网络（DenseNet）",
    "DenseNet concatenates where ResNet adds: each BN-ReLU-3×3 conv of a dense block sees the "
    "channels of all layers before it and adds 32 of its own (the growth rate). Between the four "
    "dense blocks, transition layers (1×1 conv, 2×2 average pooling) halve the channels and the "
    "size. The book (English code): test accuracy 0.891 after 10 epochs at lr 0.1.",
    ("Compare the sizes: 0.76 million parameters here, 11.2 million in ResNet-18.",
     "Set resize=29, the smallest image its three transitions leave a pixel of.",
     "Compare train and test accuracy with ResNet's after the same epochs."),
    rate=0.1, batch=256, side=96, least=29,
    quick={"resize": 32, "subset": 20000, "epochs": 2, "batch_size": 64},
    book="test_acc 0.891",
    notes="The Chinese v2 code ends with AdaptiveAvgPool2d, as here; the English edition, whose "
    "result the book prints, uses AdaptiveMaxPool2d.",
)

EXPERIMENTS = (CONV_EDGE, LENET, ALEXNET, VGG, NIN, GOOGLENET, BATCHNORM, RESNET, DENSENET)
