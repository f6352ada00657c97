"""What every dataset module gives the rest of the package.

Items are ``(image, target)``: ``image`` a float tensor (3, H, W) after the transform, ``target``
a dict of tensors/ints that PyTorch's default collate batches:

- ``"label"``: int category id, 0-based and contiguous within the split's label space;
- ``"attributes"``: LongTensor (K,) of attribute class ids, ``IGNORE_INDEX`` where unknown
  (K = 0 for datasets or tasks without attributes);
- re-id splits also give ``"pid"`` (raw person id, 0 = distractor) and ``"camid"`` (int);
- every item gives ``"index"``: its position in the dataset, so a failing image can be named.
"""

from __future__ import annotations

from dataclasses import dataclass

IGNORE_INDEX = -100
"""Attribute label for "unknown"; matches ``torch.nn.CrossEntropyLoss``'s default."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a model config needs to know about a dataset split.

    Attributes:
        name: registry name, e.g. ``"cub"``.
        task: ``"classification"``, ``"reid"`` or ``"retrieval"``.
        num_classes: categories of the training label space.
        attribute_names: one name per attribute head (K of them).
        attribute_classes: class count of each attribute head (0 = unknown is NOT a class;
            unknown is ``IGNORE_INDEX``).
        input_size: default (height, width) of the network input (paper, Sec. 4.2).
    """

    name: str
    task: str
    num_classes: int
    attribute_names: tuple[str, ...]
    attribute_classes: tuple[int, ...]
    input_size: tuple[int, int]

    @property
    def num_attributes(self) -> int:
        return len(self.attribute_classes)


class DatasetFormatError(ValueError):
    """A dataset copy that does not match its public release's format."""
