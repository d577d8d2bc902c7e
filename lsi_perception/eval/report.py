"""Plain-text table of MR^-2 results: one block of rows per method, one row per setting, all/day/night columns."""
from __future__ import annotations

import math
from collections.abc import Mapping

from .metrics import EvalResult
from .protocol import get_protocol
from .settings import SETTINGS_BY_NAME, TIMES


def format_table(results: Mapping[str, EvalResult], decimals: int = 2) -> str:
    """The benchmark table, e.g. ``MBNet  Reasonable  8.13  8.28  7.86``; empty subsets print ``n/a``.

    The title names the protocol the figures were counted with, and a line under it says what it means.
    """
    header = ["method", "setting", *TIMES]
    rows: list[list[str]] = []
    for method, result in results.items():
        for i, (setting, by_time) in enumerate(result.mr.items()):
            label = SETTINGS_BY_NAME[setting].label if setting in SETTINGS_BY_NAME else setting
            cells = [_format_mr(by_time.get(t, math.nan), decimals) for t in TIMES]
            rows.append([method if i == 0 else "", label, *cells])
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    protocols = list(dict.fromkeys(result.protocol for result in results.values()))
    lines = [f"KAIST log-average miss rate MR^-2 (%, lower is better), {' / '.join(protocols)} protocol"]
    lines += [f"  {name}: {get_protocol(name).rule}" for name in protocols]
    for row in [header, ["-" * w for w in widths], *rows]:
        text = [cell.ljust(w) if c < 2 else cell.rjust(w) for c, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(text).rstrip())
    return "\n".join(lines)


def _format_mr(value: float, decimals: int) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{decimals}f}"
