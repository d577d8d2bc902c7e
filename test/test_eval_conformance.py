"""Conformance: the published KAIST results files give the reference evaluator's MR^-2 on all 30 figures.

The data (test/data/kaist/, xz-compressed, see its README) is in the repo, so this runs on every clone.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from lsi_perception.eval import SETTINGS, TIMES, evaluate, load_annotations, load_results

RESULTS_FILES = ("MBNet_result.txt", "MLPD_result.txt", "MLPD_result.json")


@pytest.fixture(scope="module")
def reference_mr(kaist_data_dir) -> dict:
    return json.loads((kaist_data_dir / "reference_mr.json").read_text())


@pytest.fixture(scope="module")
def kaist_annotations(kaist_data_dir):
    return load_annotations(kaist_data_dir / "KAIST_annotation.json.xz")


@pytest.fixture(scope="module")
def kaist_results(kaist_data_dir, kaist_annotations) -> dict:
    return {name: load_results(kaist_data_dir / f"{name}.xz", kaist_annotations) for name in RESULTS_FILES}


def test_annotation_file_is_the_kaist_test_set(kaist_annotations):
    assert kaist_annotations.num_images == 2252
    assert kaist_annotations.time_mask("day").sum() == 1455  # set06-08
    assert kaist_annotations.time_mask("night").sum() == 797  # set09-11


@pytest.mark.parametrize("results_name", RESULTS_FILES)
def test_every_setting_matches_the_reference_evaluator(kaist_annotations, kaist_results, reference_mr, results_name):
    result = evaluate(kaist_annotations, kaist_results[results_name])  # the default protocol: reference
    assert result.protocol == "reference"
    expected = reference_mr[results_name]
    figures = {f"{s.reference_label}/{t}": (result.mr[s.name][t], expected[f"{s.reference_label}/{t}"])
               for s in SETTINGS for t in TIMES}
    assert len(figures) == len(expected) == 30
    # The reference prints 4 decimals; the issue asks for 0.01.
    off = {key: (got, want) for key, (got, want) in figures.items() if abs(got - want) > 1e-4}
    assert not off, f"{results_name}: {off}"


def test_txt_and_coco_json_results_of_one_method_give_the_same_figures(kaist_annotations, kaist_results):
    txt = evaluate(kaist_annotations, kaist_results["MLPD_result.txt"]).to_json()
    coco = evaluate(kaist_annotations, kaist_results["MLPD_result.json"]).to_json()
    for setting in txt:
        np.testing.assert_allclose([txt[setting][t] for t in TIMES], [coco[setting][t] for t in TIMES], atol=1e-9)


def test_strict_protocol_counts_the_pedestrians_of_images_without_detections(kaist_annotations, kaist_results):
    dets = kaist_results["MLPD_result.txt"]
    assert len(dets) == 1614  # MLPD has detections on 1614 of the 2252 test images
    reference = evaluate(kaist_annotations, dets, protocol="reference")
    strict = evaluate(kaist_annotations, dets, protocol="strict")
    assert strict.protocol == "strict"
    for setting in SETTINGS:
        for time in TIMES:
            ref_curve, strict_curve = reference.curves[setting.name][time], strict.curves[setting.name][time]
            assert strict_curve.num_pedestrians >= ref_curve.num_pedestrians
            assert strict_curve.num_images == ref_curve.num_images  # FPPI divides by every image in both
    assert strict.curves["all"]["all"].num_pedestrians > reference.curves["all"]["all"].num_pedestrians
    assert strict.mr["all"]["all"] > reference.mr["all"]["all"] + 0.5  # main measured 29.52 vs 28.49


def test_compressed_and_plain_files_load_the_same(kaist_eval_dir, kaist_annotations, kaist_results):
    plain = load_annotations(kaist_eval_dir / "KAIST_annotation.json")
    np.testing.assert_array_equal(plain.gt_boxes, kaist_annotations.gt_boxes)
    np.testing.assert_array_equal(plain.gt_ids, kaist_annotations.gt_ids)
    dets = load_results(kaist_eval_dir / "MBNet_result.txt", plain)
    assert sorted(dets) == sorted(kaist_results["MBNet_result.txt"])
    for image, rows in dets.items():
        np.testing.assert_array_equal(rows, kaist_results["MBNet_result.txt"][image])


def test_bench_eval_finds_the_repo_data_by_default(tmp_path, capsys):
    from lsi_perception.cli import main

    assert main(["bench", "eval", "--repeats", "1", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "bench_eval.json").read_text())
    assert report["protocol"] == "reference" and len(report["settings"]) == 10
    assert sorted(report["results"]) == sorted(RESULTS_FILES)
    for row in report["results"].values():
        assert row["figures_compared"] == 30 and row["max_abs_diff_vs_reference"] < 0.01
    assert "MLPD_result.json" in capsys.readouterr().out
