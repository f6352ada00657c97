"""CSV files people read: every float rounded to :data:`SIGNIFICANT_DIGITS` significant digits
before it is written, so that a difference computed as ``100 * 0.05`` reads ``5``, not
``5.000000000000001``, and ``4.999999999999999`` reads ``5``. Ten digits keep every digit a
metric, a p-value or an interval has (they come from at most a few thousand test images or
sign flips); what goes is the last bits of binary floating point.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SIGNIFICANT_DIGITS = 10


def rounded(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """A finite float to ``digits`` significant digits (as a float: CSV writers print its
    shortest form); anything else as it is."""
    if isinstance(value, (float, np.floating)) and math.isfinite(value):
        return float(f"{value:.{digits}g}")
    return value


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` without its index, its floats :func:`rounded` (in float columns and in
    mixed ones alike). Returns the path."""
    out = frame.copy()
    for column in out.columns:
        kind = out[column].dtype.kind
        if kind in ("f", "O"):
            out[column] = out[column].map(rounded)
    path = Path(path)
    out.to_csv(path, index=False)
    return path
