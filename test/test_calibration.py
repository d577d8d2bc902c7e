"""``lsi calibrate``: known homographies recovered within 1 px (point pairs, a heated checkerboard), the params
file the node loads, and an alignment score that tells a right homography from a wrong one."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lsi_perception.calibration.check import alignment_score, check_alignment
from lsi_perception.calibration.homography import (
    CalibrationError,
    Correspondences,
    checkerboard_pairs,
    fit_homography,
    params_snippet,
    project,
    read_params_homography,
    read_point_pairs,
)
from lsi_perception.cli import main

# RGB 640x512 -> thermal 320x256 (a half-resolution camera beside it, slightly rotated and tilted)
RGB_TO_THERMAL = np.array([[0.52, 0.01, -20.0], [-0.008, 0.5, 12.0], [1e-5, 2e-5, 1.0]])
THERMAL_TO_RGB = np.linalg.inv(RGB_TO_THERMAL) / np.linalg.inv(RGB_TO_THERMAL)[2, 2]
THERMAL_GRID = np.stack(np.meshgrid(np.linspace(0, 319, 12), np.linspace(0, 255, 10)), -1).reshape(-1, 2)


def worst_error_px(matrix: np.ndarray) -> float:
    """Largest distance (RGB px) between where ``matrix`` and the true homography put the thermal image's pixels."""
    return float(np.linalg.norm(project(matrix, THERMAL_GRID) - project(THERMAL_TO_RGB, THERMAL_GRID), axis=1).max())


def clicked_pairs(n: int = 30, noise_px: float = 0.4, outliers: int = 5, seed: int = 0) -> Correspondences:
    rng = np.random.default_rng(seed)
    thermal = rng.uniform((5, 5), (315, 251), (n, 2))
    rgb = project(THERMAL_TO_RGB, thermal) + rng.normal(0, noise_px, (n, 2))
    rgb[:outliers] += rng.uniform(20, 60, (outliers, 2))  # mis-clicks
    return Correspondences(thermal, rgb)


def test_point_pairs_with_noise_and_misclicks_recover_the_homography_within_1px(tmp_path):
    pairs = clicked_pairs()
    fit = fit_homography(pairs)
    assert not fit.inliers[:5].any() and fit.inliers[5:].all()
    print(f"clicked pairs: {fit.summary()}; worst error over the image {worst_error_px(fit.matrix):.2f} px")
    assert fit.rms_px < 1.0 and worst_error_px(fit.matrix) < 1.0

    csv = tmp_path / "clicked.csv"
    csv.write_text("thermal_x,thermal_y,rgb_x,rgb_y\n" + "".join(
        f"{t[0]},{t[1]},{r[0]},{r[1]}\n" for t, r in zip(pairs.thermal, pairs.rgb)))
    yml = tmp_path / "clicked.yaml"
    yml.write_text("pairs:\n" + "".join(f"  - {{thermal: [{t[0]}, {t[1]}], rgb: [{r[0]}, {r[1]}]}}\n"
                                        for t, r in zip(pairs.thermal, pairs.rgb)))
    for path in (csv, yml):
        np.testing.assert_allclose(read_point_pairs(path).rgb, pairs.rgb)


def test_bad_point_files_and_too_few_points_are_clear_errors(tmp_path):
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    with pytest.raises(CalibrationError, match="thermal_x,thermal_y,rgb_x,rgb_y"):
        read_point_pairs(tmp_path / "a.csv")
    (tmp_path / "b.yaml").write_text("pairs:\n  - {thermal: [1, 2]}\n")
    with pytest.raises(CalibrationError, match="pairs\\[0\\]"):
        read_point_pairs(tmp_path / "b.yaml")
    with pytest.raises(CalibrationError, match="at least 4"):
        fit_homography(clicked_pairs(n=3, outliers=0))
    with pytest.raises(FileNotFoundError):
        read_point_pairs(tmp_path / "none.csv")


def board_view(board_to_image: np.ndarray, size: tuple[int, int], invert: bool, blur: float, noise: float,
               seed: int) -> np.ndarray:
    """A 10x7-square checkerboard (9x6 inner corners, 40 px squares, white margin) seen through a homography."""
    sq, margin = 40, 40
    board = np.full((7 * sq + 2 * margin, 10 * sq + 2 * margin), 255, np.uint8)
    for j in range(7):
        for i in range(10):
            if (i + j) % 2 == 0:
                board[margin + j * sq:margin + (j + 1) * sq, margin + i * sq:margin + (i + 1) * sq] = 0
    if invert:  # heated board: the dark (absorbing) squares are the warm ones
        board = 255 - board
    img = cv2.warpPerspective(board, board_to_image, size, flags=cv2.INTER_AREA, borderValue=128).astype(np.float32)
    if blur:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    img += np.random.default_rng(seed).normal(0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def similarity(scale: float, angle: float, tx: float, ty: float, px: float = 0.0, py: float = 0.0) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[scale * c, -scale * s, tx], [scale * s, scale * c, ty], [px, py, 1.0]])


BOARD_POSES = [similarity(0.55, 0.05, 40, 40, 1e-4, 5e-5), similarity(0.6, -0.08, 330, 60, -1e-4, 1e-4),
               similarity(0.5, 0.1, 60, 290, 5e-5, -1e-4), similarity(0.55, -0.03, 320, 300, 1e-4, 1e-4),
               similarity(0.9, 0.02, 150, 130)]


def board_pairs(tmp_path=None):
    views = []
    for k, pose in enumerate(BOARD_POSES):
        rgb = cv2.cvtColor(board_view(pose, (640, 512), False, 0.0, 3.0, k), cv2.COLOR_GRAY2RGB)
        thermal = board_view(RGB_TO_THERMAL @ pose, (320, 256), True, 0.8, 2.0, 10 + k)
        views.append((rgb, thermal))
    return views


def test_heated_checkerboard_in_five_views_recovers_the_homography_within_1px():
    views = board_pairs()
    pairs = Correspondences.concatenate([checkerboard_pairs(rgb, th, (9, 6)) for rgb, th in views])
    assert len(pairs) == 5 * 54
    fit = fit_homography(pairs)
    one = fit_homography(checkerboard_pairs(*views[4], (9, 6)))
    print(f"checkerboard, 5 views: {fit.summary()}; worst error over the image {worst_error_px(fit.matrix):.2f} px; "
          f"1 view: RMS {one.rms_px:.2f} px, worst {worst_error_px(one.matrix):.2f} px")
    assert fit.inliers.all() and fit.rms_px < 1.0
    assert worst_error_px(fit.matrix) < 1.0


def test_a_symmetric_or_missing_board_is_a_clear_error():
    rgb, thermal = board_pairs()[0]
    with pytest.raises(CalibrationError, match="symmetric"):
        checkerboard_pairs(rgb, thermal, (6, 6))
    with pytest.raises(CalibrationError, match="no 9x6 checkerboard"):
        checkerboard_pairs(np.full_like(rgb, 90), thermal, (9, 6))


def test_params_snippet_round_trips_and_is_keyed_for_any_node_name(tmp_path):
    path = tmp_path / "calib.yaml"
    path.write_text(params_snippet(THERMAL_TO_RGB, "made by a test"))
    assert path.read_text().splitlines()[1] == "/**:"
    np.testing.assert_array_equal(read_params_homography(path), THERMAL_TO_RGB)


def scene_pairs(count: int = 2) -> list[tuple[np.ndarray, np.ndarray]]:
    """Synthetic street frames (day and night) with the thermal camera moved by RGB_TO_THERMAL."""
    from lsi_perception.data.synthetic import SyntheticConfig, generate_drive, plan_drives

    cfg = SyntheticConfig(frames=count, frames_per_drive=1, test_fraction=0.0, misalignment_jitter=0.0, seed=3)
    out = []
    for plan in plan_drives(cfg):
        frame = next(iter(generate_drive(cfg, plan)))
        out.append((frame.rgb, cv2.warpPerspective(frame.thermal, RGB_TO_THERMAL, (320, 256))))
    return out


def shifted(matrix: np.ndarray, dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1.0]]) @ matrix


def test_the_right_homography_scores_clearly_better_than_wrong_ones():
    pairs = scene_pairs()
    right = alignment_score(pairs, THERMAL_TO_RGB)
    wrongs = {"+10 px x": shifted(THERMAL_TO_RGB, 10, 0), "-10 px y": shifted(THERMAL_TO_RGB, 0, -10),
              "+4 px x": shifted(THERMAL_TO_RGB, 4, 0), "2x scaling": np.diag([2.0, 2.0, 1.0])}
    scores = {name: alignment_score(pairs, m) for name, m in wrongs.items()}
    print(f"alignment score: right {right:.4f}; " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    assert all(right > 1.5 * v for k, v in scores.items() if k != "+4 px x") and right > scores["+4 px x"]
    good = check_alignment(pairs, THERMAL_TO_RGB)
    assert not good.looks_off and max(map(abs, good.best_shift)) <= 2
    off = check_alignment(pairs, shifted(THERMAL_TO_RGB, 6, 0))
    print(f"shifted 6 px: {off.summary()}")
    assert off.looks_off and off.best_shift[0] in (-8, -6, -4) and abs(off.best_shift[1]) <= 2


def test_lsi_calibrate_homography_then_check_from_image_files(tmp_path, capsys):
    rgb_paths, th_paths = [], []
    for k, (rgb, thermal) in enumerate(board_pairs()):
        rgb_paths.append(tmp_path / f"rgb{k}.png")
        th_paths.append(tmp_path / f"th{k}.png")
        cv2.imwrite(str(rgb_paths[-1]), rgb[..., ::-1])
        cv2.imwrite(str(th_paths[-1]), (thermal.astype(np.uint16) * 100 + 20000))  # 16-bit radiometric-like
    params = tmp_path / "calib.yaml"
    assert main(["calibrate", "homography", "--checkerboard", "9x6", "--rgb", *map(str, rgb_paths),
                 "--thermal", *map(str, th_paths), "--params", str(params), "--overlay", str(tmp_path / "ov.png")]) == 0
    out = capsys.readouterr().out
    assert "reprojection error RMS" in out and "alignment score" in out
    assert worst_error_px(read_params_homography(params)) < 1.0
    assert cv2.imread(str(tmp_path / "ov.png")).shape == (512, 640, 3)

    (rgb, thermal), = scene_pairs(1)
    cv2.imwrite(str(tmp_path / "s_rgb.png"), rgb[..., ::-1])
    cv2.imwrite(str(tmp_path / "s_th.png"), thermal)
    check = ["calibrate", "check", "--rgb", str(tmp_path / "s_rgb.png"), "--thermal", str(tmp_path / "s_th.png"),
             "--overlay", str(tmp_path / "check.png")]
    assert main([*check, "--params", str(params)]) == 0
    wrong = shifted(THERMAL_TO_RGB, 8, 0).reshape(-1)
    assert main([*check, "--homography", *(f"{v:.9f}" for v in wrong)]) == 1
    assert "looks off" in capsys.readouterr().out
    assert main(["calibrate", "homography", "--checkerboard", "9x6", "--params", str(params)]) == 2


@pytest.mark.ros
def test_the_node_loads_the_params_file_calibrate_writes(tmp_path):
    rclpy = pytest.importorskip("rclpy")
    from lsi_perception.ros.node import LsiDetectorNode

    fit = fit_homography(clicked_pairs())
    path = tmp_path / "calib.yaml"
    path.write_text(params_snippet(fit.matrix))
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = LsiDetectorNode(namespace="/calib", context=context, cli_args=["--ros-args", "--params-file", str(path)])
        got = node.config.thermal_to_rgb_homography
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    np.testing.assert_allclose(got, fit.as_parameter(), rtol=0, atol=1e-12)


def test_lsi_calibrate_check_reads_pairs_from_a_bag(tmp_path, capsys):
    from lsi_perception.bag.from_dataset import dataset_to_bag
    from lsi_perception.bag.pairs import sample_pairs
    from lsi_perception.data.synthetic import SyntheticConfig, generate_dataset

    generate_dataset(tmp_path / "drive", SyntheticConfig(frames=4, frames_per_drive=4, height=128, width=160,
                                                         test_fraction=0.0, misalignment_jitter=0.0, seed=4))
    dataset_to_bag(tmp_path / "drive", tmp_path / "bag", progress=False)
    pairs = sample_pairs(tmp_path / "bag", 2)
    assert len(pairs) == 2 and pairs[0][0].shape == (128, 160, 3) and pairs[0][1].shape == (128, 160)
    assert main(["calibrate", "check", "--bag", str(tmp_path / "bag"), "--homography", "1", "0", "0", "0", "1", "0",
                 "0", "0", "1", "--pairs", "2", "--search-px", "4", "--overlay", str(tmp_path / "check.png")]) in (0, 1)
    assert "over 2 pair(s)" in capsys.readouterr().out and (tmp_path / "check.png").is_file()
