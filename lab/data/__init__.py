"""Datasets: the hub (find, download, import) and the loaders that turn files into tensors."""
