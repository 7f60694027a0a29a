"""Datasets: the in-memory :class:`Dataset`, loaders of the xlsa17 layout, built-in synthetic datasets."""

from zslbench.data.dataset import Dataset, DatasetError, DatasetIdentity

__all__ = ["Dataset", "DatasetError", "DatasetIdentity"]
