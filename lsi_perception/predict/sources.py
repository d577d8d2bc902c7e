"""Where ``lsi predict`` gets its RGB + thermal pairs: two image folders matched by name, or two videos.

Each pair comes as two message-like objects the node's ``pipeline.PairProcessor`` decodes unchanged: an
image file is handed over as a CompressedImage (``format`` + the file's bytes, decoded by the node's own
codec, 16-bit PNG included), a video frame as a raw Image (``bgr8``).

Folder pairs are matched by a naming pattern per modality, relative to the folder given (which may be the
same folder for both). ``{field}`` parts match any text (``/`` included), ``{ext}`` an image extension;
the pair's key is the fields joined by ``/`` (``{ext}`` left out)::

    same / llvip   rgb {name}.{ext}                   thermal {name}.{ext}       (visible/test, infrared/test)
    kaist          rgb {video}/visible/{frame}.{ext}  thermal {video}/lwir/{frame}.{ext}  (both: images/)
    flir           rgb {name}_RGB.{ext}               thermal {name}_PreviewData.{ext}    (both: JPEGImages/)

so a KAIST ``images/`` folder gives keys ``set06/V000/I00019``, the names of the KAIST annotation file.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from lsi_perception.pipeline.image_codec import image_fields

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "bmp", "tif", "tiff")
VIDEO_EXTENSIONS = ("mp4", "avi", "mkv", "mov", "m4v", "webm", "mpg", "mpeg")
NAMING_PRESETS: dict[str, tuple[str, str]] = {
    "same": ("{name}.{ext}", "{name}.{ext}"),
    "llvip": ("{name}.{ext}", "{name}.{ext}"),
    "kaist": ("{video}/visible/{frame}.{ext}", "{video}/lwir/{frame}.{ext}"),
    "flir": ("{name}_RGB.{ext}", "{name}_PreviewData.{ext}"),
}
_FIELD = re.compile(r"\{(\w+)\}")
_FORMATS = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png"}


@dataclass(frozen=True)
class SourcePair:
    """One pair: ``key`` names it (results, overlays), ``rgb`` / ``thermal`` are message-like objects."""

    key: str
    rgb: object
    thermal: object


def compressed_file(path: Path) -> SimpleNamespace:
    """An image file as a CompressedImage-like object (``format``, ``data``): the node's decoder reads it."""
    suffix = path.suffix.lower().lstrip(".")
    return SimpleNamespace(format=_FORMATS.get(suffix, suffix), data=path.read_bytes())


def raw_frame(bgr: np.ndarray) -> SimpleNamespace:
    """A decoded video frame (OpenCV's BGR order) as a raw Image-like object."""
    return SimpleNamespace(**image_fields(np.ascontiguousarray(bgr), "bgr8"))


class NamingPattern:
    """A file-name pattern with ``{field}`` parts (see the module docstring), matched on relative paths."""

    def __init__(self, pattern: str) -> None:
        if "{" not in pattern or not _FIELD.search(pattern.replace("{ext}", "")):
            raise ValueError(f"naming pattern {pattern!r} needs at least one {{field}} besides {{ext}}, e.g. "
                             "'{name}_RGB.{ext}'")
        self.pattern = pattern
        self.fields = [f for f in _FIELD.findall(pattern) if f != "ext"]
        regex, last = "", 0
        for m in _FIELD.finditer(pattern):
            regex += re.escape(pattern[last:m.start()])
            name = m.group(1)
            regex += f"(?P<ext>{'|'.join(IMAGE_EXTENSIONS)})" if name == "ext" else f"(?P<{name}>.+?)"
            last = m.end()
        self.regex = re.compile(regex + re.escape(pattern[last:]) + "$", re.IGNORECASE)

    def match(self, relative: str) -> dict[str, str] | None:
        m = self.regex.match(relative)
        return None if m is None else m.groupdict()

    def candidates(self, values: dict[str, str]) -> list[str]:
        """Relative paths this pattern gives for ``values``; with ``{ext}``, the same extension first."""
        if "{ext}" not in self.pattern:
            return [self.pattern.format(**values)]
        first = values.get("ext", "jpg")
        exts = [first] + [e for e in IMAGE_EXTENSIONS if e != first.lower()]
        return [self.pattern.format(**{**values, "ext": e}) for e in exts]


@dataclass
class FolderPairs:
    """Image pairs found in two folders: ``pairs`` sorted by key, the files that found no partner."""

    rgb_root: Path
    thermal_root: Path
    pairs: list[tuple[str, Path, Path]] = field(default_factory=list)
    rgb_without_partner: list[Path] = field(default_factory=list)
    thermal_unmatched: int = 0  # thermal files matching the thermal pattern that no RGB file named

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[SourcePair]:
        for key, rgb, thermal in self.pairs:
            yield SourcePair(key, compressed_file(rgb), compressed_file(thermal))

    def describe(self) -> str:
        text = f"{len(self.pairs)} pairs from {self.rgb_root} + {self.thermal_root}"
        if self.rgb_without_partner:
            text += f"; {len(self.rgb_without_partner)} RGB files without a thermal partner (first: {self.rgb_without_partner[0]})"
        if self.thermal_unmatched:
            text += f"; {self.thermal_unmatched} thermal files without an RGB partner"
        return text


def pair_folders(rgb_root: str | Path, thermal_root: str | Path, rgb_pattern: str, thermal_pattern: str) -> FolderPairs:
    """Match every file under ``rgb_root`` (recursively) that fits ``rgb_pattern`` with the thermal file
    ``thermal_pattern`` names for the same fields under ``thermal_root``."""
    rgb_root, thermal_root = Path(rgb_root), Path(thermal_root)
    for what, folder in (("RGB", rgb_root), ("thermal", thermal_root)):
        if not folder.is_dir():
            raise FileNotFoundError(f"{what} folder {folder} does not exist")
    rgb_pat, th_pat = NamingPattern(rgb_pattern), NamingPattern(thermal_pattern)
    if sorted(rgb_pat.fields) != sorted(th_pat.fields):
        raise ValueError(f"the RGB pattern {rgb_pattern!r} and the thermal pattern {thermal_pattern!r} must have the "
                         "same {field} parts")
    found = FolderPairs(rgb_root, thermal_root)
    used: set[Path] = set()
    for path in sorted(p for p in rgb_root.rglob("*") if p.is_file()):
        values = rgb_pat.match(path.relative_to(rgb_root).as_posix())
        if values is None:
            continue
        partner = next((thermal_root / c for c in th_pat.candidates(values) if (thermal_root / c).is_file()), None)
        if partner is None or partner == path:
            found.rgb_without_partner.append(path)
            continue
        used.add(partner)
        found.pairs.append(("/".join(values[f] for f in rgb_pat.fields), path, partner))
    shared = rgb_root.resolve() == thermal_root.resolve()  # one folder: RGB files are not unmatched thermal ones
    found.thermal_unmatched = sum(
        1 for p in thermal_root.rglob("*")
        if p.is_file() and p not in used and th_pat.match(p.relative_to(thermal_root).as_posix()) is not None
        and not (shared and rgb_pat.match(p.relative_to(thermal_root).as_posix()) is not None))
    found.pairs.sort(key=lambda item: item[0])
    keys = [k for k, _, _ in found.pairs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"two RGB files give the pair name {dup!r}; use a pattern whose fields tell them apart")
    if not found.pairs:
        raise ValueError(
            f"no RGB file under {rgb_root} matching {rgb_pattern!r} has a thermal partner under {thermal_root} "
            f"matching {thermal_pattern!r} ({len(found.rgb_without_partner)} RGB files matched the pattern); "
            f"choose --naming ({', '.join(NAMING_PRESETS)}) or give --rgb-pattern / --thermal-pattern")
    return found


class VideoPairs:
    """Frame ``i`` of the RGB video paired with frame ``i`` of the thermal video (keys ``frame_000000``...)."""

    def __init__(self, rgb_video: str | Path, thermal_video: str | Path) -> None:
        import cv2

        self.paths = (Path(rgb_video), Path(thermal_video))
        counts, rates = [], []
        for path in self.paths:
            if not path.is_file():
                raise FileNotFoundError(f"video {path} does not exist")
            cap = cv2.VideoCapture(str(path))
            if not cap.isOpened():
                raise ValueError(f"{path} cannot be opened as a video (OpenCV); convert it to mp4 or extract frames")
            counts.append(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
            rates.append(float(cap.get(cv2.CAP_PROP_FPS)))
            cap.release()
        self.frame_counts, self.fps = tuple(counts), tuple(rates)

    def __len__(self) -> int:
        return max(min(self.frame_counts), 0)

    def describe(self) -> str:
        text = (f"{len(self)} frame pairs from {self.paths[0]} ({self.frame_counts[0]} frames, {self.fps[0]:.2f} fps) + "
                f"{self.paths[1]} ({self.frame_counts[1]} frames, {self.fps[1]:.2f} fps), paired by frame index")
        if self.frame_counts[0] != self.frame_counts[1] or abs(self.fps[0] - self.fps[1]) > 1e-3:
            text += "; the videos differ in length or rate: frames are paired by index up to the shorter one"
        return text

    def __iter__(self) -> Iterator[SourcePair]:
        import cv2

        caps = [cv2.VideoCapture(str(p)) for p in self.paths]
        try:
            index = 0
            while True:
                (ok_rgb, rgb), (ok_th, th) = caps[0].read(), caps[1].read()
                if not (ok_rgb and ok_th):
                    return
                yield SourcePair(f"frame_{index:06d}", raw_frame(rgb), raw_frame(th))
                index += 1
        finally:
            for cap in caps:
                cap.release()


def is_video(path: str | Path) -> bool:
    return Path(path).is_file() and Path(path).suffix.lower().lstrip(".") in VIDEO_EXTENSIONS
