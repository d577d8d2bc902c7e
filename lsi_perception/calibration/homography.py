"""The thermal -> RGB homography of a rig from point correspondences: RANSAC fit, reprojection error, params file.

Correspondences come from

* a point-pairs file: CSV with the header ``thermal_x,thermal_y,rgb_x,rgb_y`` (one clicked pair a line), or
  YAML ``pairs: [{thermal: [x, y], rgb: [x, y]}, ...]`` (or ``[[tx, ty, rx, ry], ...]``);
* a checkerboard seen by both cameras: a board heated (or cooled) so its squares differ in temperature shows
  in thermal, often with the opposite polarity to RGB; the corners are found in the image and, failing
  that, in its inversion, and the thermal corners are put in the order of the RGB ones (the corner
  detector may number a board from either end: the order whose first-to-last direction agrees with RGB's
  is kept, which assumes the cameras are not rolled by 90 degrees or more against each other).

A homography maps one plane exactly: with a stereo baseline it registers the scene at the depth of the
points used (the board's distance) and leaves parallax elsewhere, so put the points where pedestrians are.
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

MIN_POINTS = 4
DEFAULT_RANSAC_PX = 3.0  # reprojection error (RGB pixels) under which a pair counts as an inlier
PARAMETER = "thermal_to_rgb_homography"


class CalibrationError(ValueError):
    """The inputs cannot give a homography (the message says why and what to do)."""


@dataclass(frozen=True)
class Correspondences:
    """N point pairs: ``thermal`` [N, 2] pixels in the thermal image, ``rgb`` [N, 2] the same points in RGB."""

    thermal: np.ndarray
    rgb: np.ndarray

    def __post_init__(self) -> None:
        if self.thermal.shape != self.rgb.shape or self.thermal.ndim != 2 or self.thermal.shape[1] != 2:
            raise CalibrationError(f"point pairs need [N, 2] thermal and RGB points, got {self.thermal.shape} and "
                                   f"{self.rgb.shape}")
        if not (np.isfinite(self.thermal).all() and np.isfinite(self.rgb).all()):
            raise CalibrationError("point pairs contain NaN or infinite coordinates")

    def __len__(self) -> int:
        return len(self.thermal)

    @classmethod
    def concatenate(cls, parts: Sequence[Correspondences]) -> Correspondences:
        return cls(np.concatenate([p.thermal for p in parts]), np.concatenate([p.rgb for p in parts]))


@dataclass(frozen=True)
class HomographyFit:
    """A fitted thermal -> RGB homography and how well it maps the pairs (errors in RGB pixels)."""

    matrix: np.ndarray  # 3x3, normalized so that matrix[2, 2] == 1
    inliers: np.ndarray  # [N] bool, RANSAC's
    errors: np.ndarray  # [N] reprojection error of every pair

    @property
    def rms_px(self) -> float:
        """Root-mean-square reprojection error over the inliers."""
        return float(np.sqrt(np.mean(self.errors[self.inliers] ** 2)))

    @property
    def max_px(self) -> float:
        return float(self.errors[self.inliers].max())

    def as_parameter(self) -> list[float]:
        """The 9 row-major numbers of the node parameter ``thermal_to_rgb_homography``."""
        return [float(v) for v in self.matrix.reshape(-1)]

    def summary(self) -> str:
        n, k = len(self.errors), int(self.inliers.sum())
        return (f"{k} of {n} point pairs inliers; reprojection error RMS {self.rms_px:.3f} px, max {self.max_px:.3f} px "
                f"(inliers, RGB pixels)" + (f"; outliers up to {self.errors[~self.inliers].max():.1f} px" if k < n else ""))


def project(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """[N, 2] points mapped by a 3x3 homography."""
    return cv2.perspectiveTransform(np.asarray(points, np.float64).reshape(-1, 1, 2), np.asarray(matrix, np.float64)
                                    ).reshape(-1, 2)


def fit_homography(pairs: Correspondences, ransac_px: float = DEFAULT_RANSAC_PX) -> HomographyFit:
    """RANSAC homography thermal -> RGB (OpenCV ``findHomography``), refined on the inliers."""
    if len(pairs) < MIN_POINTS:
        raise CalibrationError(f"{len(pairs)} point pairs: a homography needs at least {MIN_POINTS} (better 10 or more, "
                               "spread over the image)")
    if not ransac_px > 0:
        raise CalibrationError(f"the RANSAC threshold must be > 0 px, got {ransac_px}")
    matrix, mask = cv2.findHomography(pairs.thermal.astype(np.float64), pairs.rgb.astype(np.float64), cv2.RANSAC,
                                      ransac_px, maxIters=5000, confidence=0.999)
    if matrix is None or abs(np.linalg.det(matrix)) < 1e-12:
        raise CalibrationError("no homography fits these point pairs (are they collinear, or thermal and RGB swapped?)")
    inliers = mask.reshape(-1).astype(bool)
    if inliers.sum() < MIN_POINTS:
        raise CalibrationError(f"only {int(inliers.sum())} point pairs agree within {ransac_px} px: check the pairs")
    matrix = matrix / matrix[2, 2]
    errors = np.linalg.norm(project(matrix, pairs.thermal) - pairs.rgb, axis=1)
    return HomographyFit(matrix, inliers, errors)


# ---------------------------------------------------------------------------------------------- point files


def read_point_pairs(path: str | Path) -> Correspondences:
    """Clicked pairs from a CSV (``thermal_x,thermal_y,rgb_x,rgb_y`` header) or YAML file (module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"point pairs file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    rows = _yaml_pairs(text, path) if path.suffix.lower() in (".yaml", ".yml") else _csv_pairs(text, path)
    if not rows:
        raise CalibrationError(f"{path}: no point pairs found")
    array = np.asarray(rows, np.float64)
    return Correspondences(array[:, :2], array[:, 2:])


_CSV_COLUMNS = ("thermal_x", "thermal_y", "rgb_x", "rgb_y")


def _csv_pairs(text: str, path: Path) -> list[list[float]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not set(_CSV_COLUMNS) <= {f.strip() for f in reader.fieldnames}:
        raise CalibrationError(f"{path}: a CSV of point pairs needs the header {','.join(_CSV_COLUMNS)} "
                               f"(got {reader.fieldnames}); or give a .yaml file")
    rows = []
    for lineno, row in enumerate(reader, start=2):
        row = {k.strip(): v for k, v in row.items() if k is not None}
        try:
            rows.append([float(row[c]) for c in _CSV_COLUMNS])
        except (TypeError, ValueError):
            raise CalibrationError(f"{path}:{lineno}: {row} is not four numbers {','.join(_CSV_COLUMNS)}") from None
    return rows


def _yaml_pairs(text: str, path: Path) -> list[list[float]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CalibrationError(f"{path}: not valid YAML ({exc})") from None
    pairs = data.get("pairs") if isinstance(data, dict) else data
    if not isinstance(pairs, list):
        raise CalibrationError(f"{path}: expected 'pairs: [{{thermal: [x, y], rgb: [x, y]}}, ...]'")
    rows = []
    for k, item in enumerate(pairs):
        values = [*item.get("thermal", ()), *item.get("rgb", ())] if isinstance(item, dict) else item
        if not (isinstance(values, list) and len(values) == 4 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
            raise CalibrationError(f"{path}: pairs[{k}] = {item!r} is not {{thermal: [x, y], rgb: [x, y]}}")
        rows.append([float(v) for v in values])
    return rows


# ---------------------------------------------------------------------------------------------- checkerboard


def to_gray8(image: np.ndarray) -> np.ndarray:
    """Any RGB (HxWx3 uint8) or thermal (HxW uint8 / uint16 / float) image as 8-bit gray, thermal stretched
    between its 1st and 99th percentiles (a radiometric image's few kelvin of contrast become visible)."""
    if image.ndim == 3:
        return cv2.cvtColor(np.ascontiguousarray(image[..., :3]).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    img = image.astype(np.float32)
    lo, hi = np.percentile(img, (1, 99))
    if not hi > lo:
        raise CalibrationError("the thermal image has no contrast (every pixel about the same): heat or cool the board")
    return np.clip((img - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def find_checkerboard(image: np.ndarray, pattern: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """[cols * rows, 2] inner corners of a checkerboard (``pattern`` = inner corners per row, per column) and
    whether they were found in the inverted image. Raises CalibrationError when neither polarity shows it."""
    gray = to_gray8(image)
    for inverted in (False, True):
        view = 255 - gray if inverted else gray
        ok, corners = cv2.findChessboardCornersSB(view, pattern, flags=cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE)
        if not ok:
            ok, corners = cv2.findChessboardCorners(view, pattern, flags=cv2.CALIB_CB_ADAPTIVE_THRESH)
            if ok:
                corners = cv2.cornerSubPix(view, corners, (5, 5), (-1, -1),
                                           (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 0.01))
        if ok:
            return corners.reshape(-1, 2).astype(np.float64), inverted
    h, w = gray.shape
    raise CalibrationError(f"no {pattern[0]}x{pattern[1]} checkerboard (inner corners) found in the {w}x{h} image, "
                           "as it is or inverted: is the whole board in view, sharp, and (in thermal) heated so its "
                           "squares differ?")


def checkerboard_pairs(rgb: np.ndarray, thermal: np.ndarray, pattern: tuple[int, int]) -> Correspondences:
    """The board's inner corners in both images, thermal put in RGB's corner order (module docstring)."""
    cols, rows = pattern
    if cols < 2 or rows < 2:
        raise CalibrationError(f"a checkerboard pattern needs at least 2x2 inner corners, got {cols}x{rows}")
    if cols == rows:
        raise CalibrationError(f"a {cols}x{rows} board is symmetric (its corners can be numbered from any side): "
                               "use a board with different numbers of inner corners per row and per column")
    rgb_corners, _ = find_checkerboard(rgb, pattern)
    th_corners, _ = find_checkerboard(thermal, pattern)
    forward = rgb_corners[-1] - rgb_corners[0]
    if float(np.dot(forward, th_corners[-1] - th_corners[0])) < 0:
        th_corners = th_corners[::-1].copy()
    return Correspondences(th_corners, rgb_corners)


def parse_pattern(text: str) -> tuple[int, int]:
    """``"9x6"`` -> (9, 6): inner corners per row and per column."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        cols, rows = (int(p) for p in parts)
    except ValueError:
        raise CalibrationError(f"checkerboard pattern {text!r}: give inner corners as COLSxROWS, e.g. 9x6") from None
    return cols, rows


# ---------------------------------------------------------------------------------------------- params file


def params_snippet(matrix: np.ndarray, comment: str | None = None) -> str:
    """A ROS 2 params file setting the node's ``thermal_to_rgb_homography`` (keyed ``/**``: any node name)."""
    values = ", ".join(_number(v) for v in np.asarray(matrix, np.float64).reshape(-1))
    head = "".join(f"# {line}\n" for line in (comment or "").splitlines())
    return f"{head}/**:\n  ros__parameters:\n    {PARAMETER}: [{values}]\n"


def _number(value: float) -> str:
    if not math.isfinite(value):
        raise CalibrationError(f"homography entry {value} is not finite")
    return repr(float(value))


def read_params_homography(path: str | Path) -> np.ndarray:
    """The 3x3 ``thermal_to_rgb_homography`` of a ROS 2 params file (any node section that sets it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"params file {path} does not exist")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for section in data.values() if isinstance(data, dict) else ():
        values = (section or {}).get("ros__parameters", {}).get(PARAMETER) if isinstance(section, dict) else None
        if values is not None:
            if not (isinstance(values, list) and len(values) == 9):
                raise CalibrationError(f"{path}: {PARAMETER} must be 9 numbers, got {values!r}")
            return np.asarray(values, np.float64).reshape(3, 3)
    raise CalibrationError(f"{path} sets no {PARAMETER} (expected /**: ros__parameters: {PARAMETER}: [9 numbers])")
