"""Read and write Caltech/KAIST ``bbGt`` version-3 annotation text files.

One file per image::

    % bbGt version=3
    person 403 208 26 64 0 0 0 0 0 0 0

Each object line is ``label x y w h occ vx vy vw vh ign ang``: a box (top-left x, y, width, height in
pixels), an occlusion flag with the visible part's box, an ignore flag and an angle (unused). The
sanitized KAIST training labels (Li et al., BMVC 2018) use this format; so does the synthetic generator.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

HEADER = "% bbGt version=3"


@dataclass
class BbGtObject:
    """One annotated object; ``box`` and ``visible_box`` are (x, y, w, h) pixels."""

    label: str
    box: tuple[float, float, float, float]
    occluded: bool = False
    visible_box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    ignore: bool = False
    angle: float = 0.0
    occlusion_value: int = field(default=0, compare=False)  # the occlusion field as written (0/1; 2 = heavy)

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        x, y, w, h = self.box
        return (x, y, x + w, y + h)


def parse_bbgt(text: str, source: str = "<text>") -> list[BbGtObject]:
    """Parse bbGt v1-v3 text. Lines shorter than ``label x y w h`` are an error naming ``source``."""
    objects: list[BbGtObject] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        parts = line.split()
        if len(parts) < 5:
            raise ValueError(f"{source}:{lineno}: expected 'label x y w h ...', got {line!r}")
        try:
            nums = [float(p) for p in parts[1:]]
        except ValueError as exc:
            raise ValueError(f"{source}:{lineno}: non-numeric field in {line!r}") from exc
        box = (nums[0], nums[1], nums[2], nums[3])
        occluded = len(nums) > 4 and nums[4] != 0
        visible = tuple(nums[5:9]) if len(nums) >= 9 else (0.0, 0.0, 0.0, 0.0)
        ignore = len(nums) > 9 and nums[9] != 0
        angle = nums[10] if len(nums) > 10 else 0.0
        objects.append(BbGtObject(parts[0], box, occluded, visible, ignore, angle,  # type: ignore[arg-type]
                                  int(nums[4]) if len(nums) > 4 else 0))
    return objects


def read_bbgt(path: str | Path) -> list[BbGtObject]:
    path = Path(path)
    return parse_bbgt(path.read_text(encoding="utf-8", errors="replace"), source=str(path))


def format_bbgt(objects: list[BbGtObject]) -> str:
    def num(v: float) -> str:
        return f"{v:.2f}".rstrip("0").rstrip(".")

    lines = [HEADER]
    for o in objects:
        fields = [o.label, *map(num, o.box), str(int(o.occluded)), *map(num, o.visible_box),
                  str(int(o.ignore)), num(o.angle)]
        lines.append(" ".join(fields))
    return "\n".join(lines) + "\n"


def write_bbgt(path: str | Path, objects: list[BbGtObject]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_bbgt(objects))
