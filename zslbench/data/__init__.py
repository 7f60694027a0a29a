"""Datasets: the in-memory :class:`Dataset`, loaders of the xlsa17 layout, built-in synthetic datasets."""

from zslbench.data.dataset import Dataset, DatasetError, DatasetIdentity, dataset_layout_sha256

__all__ = ["Dataset", "DatasetError", "DatasetIdentity", "dataset_layout_sha256"]
