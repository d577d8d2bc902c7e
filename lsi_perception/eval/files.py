"""Reading evaluation files that may be compressed: ``.gz``, ``.xz`` and ``.bz2`` are opened transparently.

The benchmark files kept in the repository (test/data/kaist/) are xz-compressed; a user's files usually are
not. ``logical_name`` is the name without the compression suffix (``MLPD_result.txt.xz`` -> ``MLPD_result.txt``),
so the format is still recognised and results are still named after their file.
"""
from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path

_OPENERS = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}


def logical_name(path: str | Path) -> str:
    """The file name without a compression suffix."""
    path = Path(path)
    return path.stem if path.suffix in _OPENERS else path.name


def read_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of ``path``, decompressed by suffix; ``what`` names the file's role in errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    opener = _OPENERS.get(path.suffix)
    try:
        if opener is None:
            return path.read_text(encoding="utf-8")
        with opener(path, "rt", encoding="utf-8") as f:
            return f.read()
    except (OSError, EOFError, lzma.LZMAError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} {path} cannot be read ({exc}); give a UTF-8 text file, optionally .gz/.xz/.bz2") from exc
