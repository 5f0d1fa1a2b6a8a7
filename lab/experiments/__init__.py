"""Every experiment's declaration, chapter by chapter. Importing this never imports torch."""

from lab.experiments import (
    attention,
    cnn,
    house_prices,
    linear,
    mlp,
    multi_gpu,
    norm_lab,
    optimization,
    preliminaries,
    rnn,
    sequences,
    translation,
)

ALL = (*preliminaries.EXPERIMENTS, *linear.EXPERIMENTS, *mlp.EXPERIMENTS,
       *house_prices.EXPERIMENTS, *cnn.EXPERIMENTS, *norm_lab.EXPERIMENTS,
       *multi_gpu.EXPERIMENTS, *sequences.EXPERIMENTS, *rnn.EXPERIMENTS,
       *translation.EXPERIMENTS, *attention.EXPERIMENTS, *optimization.EXPERIMENTS)
