"""Every experiment's declaration, chapter by chapter. Importing this never imports torch."""

from lab.experiments import cnn, house_prices, linear, mlp

ALL = (*linear.EXPERIMENTS, *mlp.EXPERIMENTS, *house_prices.EXPERIMENTS, *cnn.EXPERIMENTS)
