"""Every experiment's declaration, chapter by chapter. Importing this never imports torch."""

from lab.experiments import attention, cnn, house_prices, linear, mlp, rnn, sequences, translation

ALL = (*linear.EXPERIMENTS, *mlp.EXPERIMENTS, *house_prices.EXPERIMENTS, *cnn.EXPERIMENTS,
       *sequences.EXPERIMENTS, *rnn.EXPERIMENTS, *translation.EXPERIMENTS,
       *attention.EXPERIMENTS)
