"""The dataset card: what a manifest is (name, task, attributes, input size, splits).

A card is a JSON object (JSON needs no dependency; docs/your_data.md, "The card")::

    {
      "name": "birds",
      "task": "classification",
      "manifest": "manifest.csv",
      "input_size": [224, 224],
      "splits": {"train": "train", "test": "test"},
      "attributes": {"bill_shape": ["cone", "hooked"], "crown_color": ["red", "blue"]},
      "classes": ["sparrow", "finch"],
      "description": "optional free text"
    }

``task`` is a key of :data:`a3m.data.tasks.TASKS`; ``splits`` maps each split of the task's
protocol (the training split, then the evaluated ones: ``test``, or ``query`` and ``gallery``
for re-id) to the value the manifest's ``split`` column holds for it (default: the same name);
``attributes`` lists each attribute's values in the order of its head's classes; ``classes``
(optional) lists the allowed labels in the order of their ids; ``manifest`` defaults to
``manifest.csv`` (else ``manifest.parquet``) beside the card. Every error names the card, the
field and what was expected, in one line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from a3m.data.base import DatasetFormatError
from a3m.data.tasks import TASKS

PREFIX = "manifest:"
"""``manifest:PATH`` names a manifest dataset wherever a registry name goes."""
CARD_NAME = "card.json"
MANIFEST_NAMES = ("manifest.csv", "manifest.parquet")
"""The manifest a card reads unless its ``manifest`` field names another, in this order."""
MANIFEST_SUFFIXES = (".csv", ".parquet")
FORMAT_VERSION = 1
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
"""Dataset and attribute names: they become MLflow experiment and metric names."""
KNOWN_FIELDS = (
    "format",
    "name",
    "task",
    "manifest",
    "input_size",
    "splits",
    "attributes",
    "classes",
    "description",
)


@dataclass(frozen=True)
class Card:
    """A parsed, validated dataset card.

    Attributes:
        path: the card file (absolute).
        name: the dataset's name (letters, digits, ``_ . -``).
        task: ``classification``, ``reid`` or ``retrieval``.
        manifest: the manifest file (absolute).
        input_size: (height, width) the runs train at unless they set ``input_size``.
        splits: protocol split -> the manifest's ``split`` value, the training split first.
        attributes: (attribute name, its values in head-class order), in the card's order.
        classes: the allowed labels in id order, or None (the training split's, sorted).
        description: free text.
    """

    path: Path
    name: str
    task: str
    manifest: Path
    input_size: tuple[int, int]
    splits: tuple[tuple[str, str], ...]
    attributes: tuple[tuple[str, tuple[str, ...]], ...]
    classes: tuple[str, ...] | None = None
    description: str = ""

    @property
    def split_values(self) -> dict[str, str]:
        """The manifest's ``split`` value -> protocol split."""
        return {value: split for split, value in self.splits}

    @property
    def attribute_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.attributes)

    @property
    def eval_splits(self) -> tuple[str, ...]:
        """The splits the task's protocol evaluates (``test``; ``query``, ``gallery``)."""
        return TASKS[self.task].eval_splits

    @property
    def dataset_name(self) -> str:
        """The registry name of this dataset: ``manifest:<card path>``."""
        return f"{PREFIX}{self.path}"


def is_manifest_name(name: str) -> bool:
    """Whether a dataset name is ``manifest:PATH``."""
    return str(name).startswith(PREFIX)


def resolve_card(path: str | Path) -> Path:
    """The card file a ``manifest:PATH`` names, absolute: PATH itself when it is a ``.json``
    file, ``card.json`` beside a manifest file or inside a folder.

    Raises:
        FileNotFoundError: with one line saying what was looked for where.
    """
    given = Path(str(path)).expanduser()
    if given.is_dir():
        card = given / CARD_NAME
        what = f"a dataset card {CARD_NAME} in the folder {given}"
    elif given.suffix.lower() in MANIFEST_SUFFIXES:
        card = given.parent / CARD_NAME
        what = f"a dataset card {CARD_NAME} beside the manifest {given}"
    else:
        card = given
        what = "a dataset card (a .json file), a manifest (.csv, .parquet) or their folder"
    if not card.is_file():
        raise FileNotFoundError(f"{card} not found: expected {what} (docs/your_data.md)")
    return card.resolve()


def _fail(card: Path, field: str, expected: str, got: Any) -> DatasetFormatError:
    shown = json.dumps(got) if not isinstance(got, str) else repr(got)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return DatasetFormatError(f"{card}: field {field!r}: expected {expected}; got {shown}")


def _name(card: Path, field: str, value: Any) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise _fail(card, field, "a name of letters, digits, '_', '.' or '-'", value)
    return value


def _input_size(card: Path, value: Any) -> tuple[int, int]:
    sides = [value] if isinstance(value, int) else value
    ok = isinstance(sides, list) and len(sides) in (1, 2)
    ok = ok and all(isinstance(s, int) and not isinstance(s, bool) and s >= 8 for s in sides)
    if not ok:
        raise _fail(card, "input_size", "[height, width] in pixels (each >= 8), or one side", value)
    return (sides[0], sides[-1])


def _splits(card: Path, task: str, value: Any) -> tuple[tuple[str, str], ...]:
    protocol = ("train", *TASKS[task].eval_splits)
    if value is None:
        return tuple((s, s) for s in protocol)
    expected = f"an object mapping {', '.join(protocol)} (the {task} protocol's splits) to "
    expected += "the manifest's split values"
    if not isinstance(value, dict) or set(value) != set(protocol):
        raise _fail(card, "splits", expected, value)
    values = [value[s] for s in protocol]
    if not all(isinstance(v, str) and v.strip() for v in values) or len(set(values)) < len(values):
        raise _fail(card, "splits", expected + " (distinct, non-empty)", value)
    return tuple(zip(protocol, values, strict=True))


def _attributes(card: Path, task: str, value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if value is None or value == {}:
        return ()
    if task == "retrieval":
        raise _fail(
            card,
            "attributes",
            "none for a retrieval dataset (the retrieval protocol "
            "trains without attribute labels, paper Tables 4-5)",
            value,
        )
    if not isinstance(value, dict):
        raise _fail(card, "attributes", "an object: attribute name -> list of its values", value)
    out = []
    for name, values in value.items():
        _name(card, f"attributes.{name}", name)
        field = f"attributes.{name}"
        if not isinstance(values, list) or len(values) < 2:
            raise _fail(card, field, "a list of at least 2 values", values)
        texts = [str(v) for v in values]
        if any(not t.strip() for t in texts) or len(set(texts)) < len(texts):
            raise _fail(
                card, field, "distinct, non-empty values (an empty cell is unknown)", values
            )
        out.append((name, tuple(texts)))
    return tuple(out)


def _classes(card: Path, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    texts = [str(v) for v in value] if isinstance(value, list) else []
    if len(texts) < 2 or any(not t.strip() for t in texts) or len(set(texts)) < len(texts):
        raise _fail(card, "classes", "a list of at least 2 distinct, non-empty labels", value)
    return tuple(texts)


def _manifest(card: Path, value: Any) -> Path:
    if value is None:
        for name in MANIFEST_NAMES:
            if (card.parent / name).is_file():
                return card.parent / name
        raise FileNotFoundError(
            f"{card}: no manifest beside it: expected {' or '.join(MANIFEST_NAMES)} in "
            f"{card.parent}, or a 'manifest' field naming it"
        )
    if not isinstance(value, str) or Path(value).suffix.lower() not in MANIFEST_SUFFIXES:
        raise _fail(card, "manifest", "a .csv or .parquet file, relative to the card", value)
    path = (card.parent / value).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{card}: field 'manifest': {path} not found")
    return path


def read_card(path: str | Path) -> Card:
    """Read and validate the card at ``path`` (a card, a manifest or their folder:
    :func:`resolve_card`); parsed once per process while the file stays the same (the config
    validates its dataset, and so reads its card, each time one is built).

    Raises:
        FileNotFoundError: no card, or no manifest where it says.
        DatasetFormatError: a card that is not valid JSON or has a bad field (one line).
    """
    card = resolve_card(path)
    stat = card.stat()
    return _parse_card(card, (stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=32)
def _parse_card(card: Path, stamp: tuple[int, int]) -> Card:
    del stamp  # a cache key only: a rewritten card is parsed again
    try:
        raw = json.loads(card.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetFormatError(f"{card}: not a JSON dataset card ({err})") from None
    if not isinstance(raw, dict):
        raise DatasetFormatError(f"{card}: expected a JSON object (the dataset card)")
    unknown = sorted(set(raw) - set(KNOWN_FIELDS))
    if unknown:
        raise DatasetFormatError(
            f"{card}: unknown field(s) {', '.join(unknown)}; valid: {', '.join(KNOWN_FIELDS)}"
        )
    if raw.get("format", FORMAT_VERSION) != FORMAT_VERSION:
        raise _fail(card, "format", f"{FORMAT_VERSION} (or no field)", raw["format"])
    for required in ("name", "task", "input_size"):
        if required not in raw:
            raise DatasetFormatError(f"{card}: missing field {required!r} (docs/your_data.md)")
    task = raw["task"]
    if task not in TASKS:
        raise _fail(card, "task", f"one of {', '.join(TASKS)}", task)
    return Card(
        path=card,
        name=_name(card, "name", raw["name"]),
        task=task,
        manifest=_manifest(card, raw.get("manifest")),
        input_size=_input_size(card, raw["input_size"]),
        splits=_splits(card, task, raw.get("splits")),
        attributes=_attributes(card, task, raw.get("attributes")),
        classes=_classes(card, raw.get("classes")),
        description=str(raw.get("description", "")),
    )


def card_json(
    name: str,
    task: str,
    input_size: tuple[int, int],
    attributes: dict[str, list[str]],
    *,
    manifest: str = MANIFEST_NAMES[0],
    classes: list[str] | None = None,
    description: str = "",
) -> str:
    """The text of a card (what the converter and the synthetic writer write)."""
    body: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "name": name,
        "task": task,
        "manifest": manifest,
        "input_size": list(input_size),
        "splits": {s: s for s in ("train", *TASKS[task].eval_splits)},
        "attributes": attributes,
    }
    if classes is not None:
        body["classes"] = classes
    if description:
        body["description"] = description
    return _readable_json(body)


def _readable_json(body: dict[str, Any]) -> str:
    """JSON with one line per field and per entry of an object field (a list stays on its
    line): a card a person reads and edits."""

    def text(value: Any) -> str:
        if isinstance(value, dict) and value:
            inner = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
            return "{\n" + inner + "\n  }"
        return json.dumps(value)

    fields = [f"  {json.dumps(k)}: {text(v)}" for k, v in body.items()]
    return "{\n" + ",\n".join(fields) + "\n}\n"
