"""Datasets in their public on-disk formats, their transforms, and synthetic copies."""

from a3m.data.base import IGNORE_INDEX, DatasetFormatError, DatasetInfo

__all__ = ["IGNORE_INDEX", "DatasetFormatError", "DatasetInfo"]
