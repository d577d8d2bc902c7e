"""Conformance: the published KAIST results files give the reference evaluator's MR^-2 (Reasonable, percent)."""
from __future__ import annotations

import pytest

from lsi_perception.eval import evaluate, load_annotations, load_results

# Reference evaluator figures (all, day, night) for the results files in ../shared/kaist_eval/.
REFERENCE_REASONABLE = {
    "MBNet_result.txt": (8.1295, 8.2819, 7.8577),
    "MLPD_result.txt": (7.5756, 7.9637, 6.9476),
}


@pytest.fixture(scope="module")
def kaist_annotations(kaist_eval_dir):
    return load_annotations(kaist_eval_dir / "KAIST_annotation.json")


def test_annotation_file_is_the_kaist_test_set(kaist_annotations):
    assert kaist_annotations.num_images == 2252
    assert kaist_annotations.time_mask("day").sum() == 1455  # set06-08
    assert kaist_annotations.time_mask("night").sum() == 797  # set09-11


@pytest.mark.parametrize("results_name", sorted(REFERENCE_REASONABLE))
def test_reasonable_mr_matches_reference(kaist_eval_dir, kaist_annotations, results_name):
    result = evaluate(kaist_annotations, load_results(kaist_eval_dir / results_name, kaist_annotations))
    expected = REFERENCE_REASONABLE[results_name]
    got = tuple(result.mr["reasonable"][t] for t in ("all", "day", "night"))
    # The issue asks for 0.01; the evaluator reproduces the reference to its 4 printed decimals.
    assert got == pytest.approx(expected, abs=1e-4), f"{results_name}: {got} != {expected}"


def test_every_setting_is_a_percentage(kaist_eval_dir, kaist_annotations):
    result = evaluate(kaist_annotations, load_results(kaist_eval_dir / "MLPD_result.txt", kaist_annotations))
    for setting, by_time in result.mr.items():
        for time, mr in by_time.items():
            assert 0.0 <= mr <= 100.0, (setting, time, mr)
    # Harder settings miss more: all pedestrians >= reasonable, heavy occlusion >= none.
    assert result.mr["all"]["all"] > result.mr["reasonable"]["all"]
    assert result.mr["occ_heavy"]["all"] > result.mr["occ_none"]["all"]
