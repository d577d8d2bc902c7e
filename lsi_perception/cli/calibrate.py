"""``lsi calibrate {homography,check}``: the thermal -> RGB homography of a rig, and a check of one.

    lsi calibrate homography --points clicked.csv --rgb rgb.png --thermal thermal.png --params calib.yaml
    lsi calibrate homography --checkerboard 9x6 --rgb b1_rgb.png b2_rgb.png --thermal b1_th.png b2_th.png
    lsi calibrate check --bag drive_bag --params calib.yaml --overlay check.png

Exit codes: 0 done (``check``: no shift scores clearly better), 1 ``check`` found a shift that scores clearly
better (the homography looks off), 2 bad input.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("calibrate", help="thermal -> RGB homography: fit one (points, checkerboard), check one",
                                   description="Register the thermal camera to the RGB camera: the node's "
                                               "thermal_to_rgb_homography parameter.")
    sub = parser.add_subparsers(dest="calibrate_command", metavar="ACTION")
    _add_homography(sub)
    _add_check(sub)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _add_homography(sub) -> None:
    from lsi_perception.calibration.homography import DEFAULT_RANSAC_PX

    p = sub.add_parser("homography", help="fit the homography from point pairs or a checkerboard; write a params file",
                       description="RANSAC homography mapping thermal pixels to RGB pixels, from clicked point pairs "
                                   "(CSV thermal_x,thermal_y,rgb_x,rgb_y or YAML pairs: [{thermal: [x, y], rgb: [x, "
                                   "y]}]) or from a checkerboard seen by both cameras (heated or cooled so it shows in "
                                   "thermal; found inverted too). Prints the reprojection error, writes a params file "
                                   "for the node and, given images, the overlay of thermal edges on RGB.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--points", type=Path, help="point pairs file (.csv or .yaml)")
    src.add_argument("--checkerboard", metavar="COLSxROWS", help="inner corners per row x per column, e.g. 9x6 "
                     "(different numbers, so the board has an up)")
    p.add_argument("--rgb", type=Path, nargs="+", default=[], help="RGB image(s): the board views (--checkerboard), "
                   "or one image for the overlay (--points)")
    p.add_argument("--thermal", type=Path, nargs="+", default=[], help="thermal image(s), in the same order as --rgb "
                   "(8 or 16 bit)")
    p.add_argument("--ransac-px", type=float, default=DEFAULT_RANSAC_PX,
                   help="RANSAC inlier threshold in RGB pixels (default %(default)s)")
    p.add_argument("--params", type=Path, default=Path("thermal_to_rgb_homography.yaml"),
                   help="params file to write (default %(default)s): --ros-args --params-file it, or the launch file's "
                        "params_file:=")
    p.add_argument("--overlay", type=Path, default=None,
                   help="overlay PNG of thermal edges on the first RGB image (default: calibration_overlay.png when "
                        "images are given)")
    p.set_defaults(func=_run_homography)


def _read_pairs(rgb_paths: list[Path], thermal_paths: list[Path]):
    from lsi_perception.data.images import read_rgb, read_thermal

    if len(rgb_paths) != len(thermal_paths):
        raise ValueError(f"{len(rgb_paths)} --rgb and {len(thermal_paths)} --thermal images: give them in pairs")
    for path in (*rgb_paths, *thermal_paths):
        if not path.is_file():
            raise FileNotFoundError(f"image {path} does not exist")
    return [(read_rgb(r), read_thermal(t)) for r, t in zip(rgb_paths, thermal_paths)]


def _write_overlay(path: Path, rgb, thermal, matrix) -> None:
    import cv2

    from lsi_perception.calibration.check import edge_overlay

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), edge_overlay(rgb, thermal, matrix)[..., ::-1]):
        raise ValueError(f"cannot write the overlay image {path}")
    print(f"overlay (thermal edges in magenta on RGB) written to {path}")


def _run_homography(args: argparse.Namespace) -> int:
    import numpy as np

    from lsi_perception.calibration.check import check_alignment
    from lsi_perception.calibration.homography import (
        Correspondences,
        checkerboard_pairs,
        fit_homography,
        params_snippet,
        parse_pattern,
        read_point_pairs,
    )

    images = _read_pairs(args.rgb, args.thermal)
    if args.points is not None:
        pairs = read_point_pairs(args.points)
        source = f"{len(pairs)} point pairs from {args.points}"
    else:
        if not images:
            raise ValueError("--checkerboard needs the board's --rgb and --thermal images")
        pattern = parse_pattern(args.checkerboard)
        pairs = Correspondences.concatenate([checkerboard_pairs(rgb, th, pattern) for rgb, th in images])
        source = f"a {pattern[0]}x{pattern[1]} checkerboard in {len(images)} view(s)"
    fit = fit_homography(pairs, args.ransac_px)
    with np.printoptions(precision=6, suppress=True):
        print(f"thermal -> RGB homography from {source}:\n{fit.matrix}")
    print(fit.summary())
    args.params.parent.mkdir(parents=True, exist_ok=True)
    args.params.write_text(params_snippet(fit.matrix, f"lsi calibrate homography: {source}\n{fit.summary()}"))
    print(f"params file written to {args.params}: run the node with --ros-args --params-file {args.params}")
    if images:
        check = check_alignment(images, fit.matrix)
        print(check.summary())
        _write_overlay(args.overlay or Path("calibration_overlay.png"), *images[0], fit.matrix)
    elif args.overlay is not None:
        raise ValueError("--overlay needs an --rgb and a --thermal image")
    return 0


def _add_check(sub) -> None:
    p = sub.add_parser("check", help="score a homography on an image pair or a bag; write the overlay",
                       description="Warp thermal into the RGB frame with a homography and score the registration "
                                   "(normalized mutual information of the two images' edges), with the shift of up to "
                                   "--search-px that would score better; writes the overlay of thermal edges on RGB. "
                                   "Exit code 1 when a shift scores clearly better (the homography looks off).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--bag", type=Path, help="a bag with RGB and thermal image topics")
    src.add_argument("--rgb", type=Path, help="an RGB image (with --thermal)")
    p.add_argument("--thermal", type=Path, help="the thermal image of the --rgb image")
    h = p.add_mutually_exclusive_group(required=True)
    h.add_argument("--params", type=Path, help="a params file setting thermal_to_rgb_homography")
    h.add_argument("--homography", type=float, nargs=9, metavar="H", help="row-major 3x3 thermal -> RGB")
    p.add_argument("--pairs", type=int, default=10, help="with --bag: pairs taken evenly over the bag (default %(default)s)")
    p.add_argument("--rgb-topic", default=None)
    p.add_argument("--thermal-topic", default=None)
    p.add_argument("--search-px", type=int, default=8, help="largest shift tried, RGB pixels (default %(default)s)")
    p.add_argument("--overlay", type=Path, default=Path("calibration_check.png"),
                   help="overlay PNG of the first pair (default %(default)s)")
    p.set_defaults(func=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    import numpy as np

    from lsi_perception.calibration.check import check_alignment
    from lsi_perception.calibration.homography import read_params_homography

    matrix = read_params_homography(args.params) if args.params else np.asarray(args.homography, np.float64).reshape(3, 3)
    if abs(np.linalg.det(matrix)) < 1e-12:
        raise ValueError("the homography is singular (determinant 0)")
    if args.bag is not None:
        from lsi_perception.bag.pairs import sample_pairs

        images = sample_pairs(args.bag, args.pairs, args.rgb_topic, args.thermal_topic)
    else:
        if args.thermal is None:
            raise ValueError("--rgb needs --thermal (the same scene from the thermal camera)")
        images = _read_pairs([args.rgb], [args.thermal])
    check = check_alignment(images, matrix, search_px=args.search_px)
    print(check.summary())
    _write_overlay(args.overlay, *images[0], matrix)
    return 1 if check.looks_off else 0
