"""FPPI / miss-rate curves in the style of the pedestrian-detection benchmark papers (Dollar et al.; KAIST).

Both axes are logarithmic: FPPI over [1e-2, 1e0] on x, miss rate with ticks .05 ... 1 on y; the legend
gives each method's MR^-2 ("8.13% MBNet"), best first. One panel per image subset (all, day, night); the
figure's title names the protocol the ground truths were counted with.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .metrics import EvalResult
from .settings import SETTINGS_BY_NAME, TIMES

MISS_RATE_TICKS = (0.05, 0.10, 0.20, 0.30, 0.40, 0.50, 0.64, 0.80, 1.0)
FPPI_RANGE = (1e-2, 1e0)


def plot_curves(
    results: Mapping[str, EvalResult],
    path: str | Path,
    setting: str = "reasonable",
    times: Sequence[str] = TIMES,
    dpi: int = 120,
) -> Path:
    """Draw the curves of every method for ``setting`` into ``path`` (PNG, PDF or SVG by extension)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display backend needed
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    label = SETTINGS_BY_NAME[setting].label if setting in SETTINGS_BY_NAME else setting
    fig = Figure(figsize=(5.0 * len(times), 4.6), layout="constrained")
    axes = fig.subplots(1, len(times), squeeze=False)[0]
    protocols = " / ".join(dict.fromkeys(result.protocol for result in results.values()))
    fig.suptitle(f"KAIST MR^-2, {protocols} protocol")
    for ax, time in zip(axes, times):
        ranked = sorted(results.items(), key=lambda item: _sort_key(item[1].curves[setting][time].mr))
        for method, result in ranked:
            curve = result.curves[setting][time]
            # Start the curve at the left edge with the miss rate of the most confident counted detection.
            fppi = [FPPI_RANGE[0] / 10, *curve.fppi] if len(curve.fppi) else [FPPI_RANGE[0] / 10, FPPI_RANGE[1] * 10]
            miss = [curve.miss_rate[0], *curve.miss_rate] if len(curve.miss_rate) else [1.0, 1.0]
            mr = "n/a" if curve.mr != curve.mr else f"{curve.mr:.2f}%"
            ax.plot(fppi, miss, drawstyle="steps-post", linewidth=2.0, label=f"{mr} {method}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(*FPPI_RANGE)
        ax.set_ylim(MISS_RATE_TICKS[0], 1.0)
        ax.yaxis.set_major_locator(FixedLocator(MISS_RATE_TICKS))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2f}".rstrip("0").rstrip(".")))
        ax.grid(True, which="major", linestyle=":", linewidth=0.8)
        ax.grid(True, which="minor", axis="x", linestyle=":", linewidth=0.4)
        ax.set_xlabel("false positives per image")
        ax.set_ylabel("miss rate")
        ax.set_title(f"{label} ({time})")
        ax.legend(loc="lower left", fontsize="small")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def _sort_key(mr: float) -> float:
    return float("inf") if mr != mr else mr
