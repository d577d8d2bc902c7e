"""``lsi eval`` end to end, in process: table, JSON on stdout, the plot file, and clear errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lsi_perception.cli import main
from lsi_perception.eval import SETTINGS, TIMES

ANNOTATIONS = {
    "images": [{"id": i, "im_name": f"set{s:02d}/V000/I{i:05d}"} for i, s in enumerate([6, 6, 7, 9, 10, 11])],
    "annotations": [
        {"image_id": i, "bbox": [100 + 40 * i, 100, 30, 70], "height": 70, "occlusion": 0, "ignore": 0} for i in range(6)
    ],
}


@pytest.fixture()
def files(tmp_path):
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(ANNOTATIONS))
    good = tmp_path / "good_method.txt"
    good.write_text("".join(f"{i + 1},{100 + 40 * i},100,30,70,0.9\n" for i in range(6)) + "2,500,300,30,70,0.5\n")
    weak = tmp_path / "weak_method.json"
    weak.write_text(json.dumps([{"image_id": i, "bbox": [100 + 40 * i, 100, 30, 70], "score": 0.4} for i in range(3)]
                               + [{"image_id": 4, "bbox": [500, 300, 30, 70], "score": 0.9}]))
    return ann, good, weak


def test_json_to_stdout_table_to_stderr_and_plot(files, tmp_path, capsys):
    ann, good, weak = files
    png = tmp_path / "plots" / "curves.png"
    rc = main(["eval", "--annotations", str(ann), "--results", str(good), str(weak), "--json", "-", "--plot", str(png)])
    out, err = capsys.readouterr()
    assert rc == 0
    document = json.loads(out)
    assert document["protocol"] == "reference" and "no detection" in document["protocol_rule"]
    payload = document["results"]
    assert list(payload) == ["good_method", "weak_method"]
    for method in payload.values():
        assert set(method) == {s.name for s in SETTINGS}
        assert all(set(by_time) == set(TIMES) for by_time in method.values())
    assert payload["good_method"]["reasonable"]["all"] < 1e-6
    assert payload["weak_method"]["reasonable"]["all"] > payload["good_method"]["reasonable"]["all"]
    assert "Reasonable" in err and "good_method" in err and "reference protocol" in err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_strict_protocol_charges_the_misses_of_images_without_detections(files, capsys):
    ann, _, weak = files  # weak_method has no detection on images 3 and 5, whose pedestrians it misses
    figures = {}
    for protocol in ("reference", "strict"):
        assert main(["eval", "--annotations", str(ann), "--results", str(weak), "--json", "-", "--protocol", protocol]) == 0
        out, err = capsys.readouterr()
        document = json.loads(out)
        assert document["protocol"] == protocol and f"{protocol} protocol" in err
        figures[protocol] = document["results"]["weak_method"]["reasonable"]["all"]
    assert figures["strict"] > figures["reference"]


def test_every_setting_can_be_plotted_and_equal_stems_are_named_by_file(files, tmp_path, capsys):
    ann, good, _ = files
    same_stem = tmp_path / "good_method.json"
    same_stem.write_text(json.dumps([{"image_id": 0, "bbox": [100, 100, 30, 70], "score": 0.9}]))
    png = tmp_path / "small.png"
    args = ["eval", "--annotations", str(ann), "--results", str(good), str(same_stem), "--json", "-"]
    assert main([*args, "--plot", str(png), "--plot-setting", "reasonable_small"]) == 0
    assert list(json.loads(capsys.readouterr().out)["results"]) == ["good_method.txt", "good_method.json"]
    assert png.stat().st_size > 0
    with pytest.raises(SystemExit):
        main([*args, "--plot-setting", "tiny"])
    assert "invalid choice" in capsys.readouterr().err


def test_json_file_output_and_table_on_stdout(files, tmp_path, capsys):
    ann, good, _ = files
    out_json = tmp_path / "mr.json"
    assert main(["eval", "--annotations", str(ann), "--results", str(good), "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("KAIST log-average miss rate") and "Occ heavy" in out and "Reasonable occ heavy" in out
    assert json.loads(out_json.read_text())["results"]["good_method"]["all"]["night"] == pytest.approx(0.0, abs=1e-6)


def test_malformed_results_exit_2_with_file_and_line(files, tmp_path, capsys):
    ann, good, _ = files
    bad = tmp_path / "bad.txt"
    bad.write_text("1,100,100,30,70,0.9\n9,100,100,30,70,0.9\n")
    assert main(["eval", "--annotations", str(ann), "--results", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: image id 9 is outside 1..6" in err


def test_same_stem_twice_is_an_error(files, tmp_path, capsys):
    ann, good, _ = files
    other = tmp_path / "sub"
    other.mkdir()
    (other / good.name).write_text(good.read_text())
    assert main(["eval", "--annotations", str(ann), "--results", str(good), str(other / good.name)]) == 2
    assert "good_method" in capsys.readouterr().err


def test_kaist_reference_figures_through_the_command(kaist_data_dir, capsys):
    results = [str(kaist_data_dir / n) for n in ("MBNet_result.txt.xz", "MLPD_result.txt.xz")]
    ann = str(kaist_data_dir / "KAIST_annotation.json.xz")
    assert main(["eval", "--annotations", ann, "--results", *results, "--json", "-"]) == 0
    payload = json.loads(capsys.readouterr().out)["results"]
    reference = json.loads((kaist_data_dir / "reference_mr.json").read_text())
    for name in ("MBNet_result", "MLPD_result"):
        got = [round(payload[name][s.name][t], 2) for s in SETTINGS for t in TIMES]
        want = [round(reference[f"{name}.txt"][f"{s.reference_label}/{t}"], 2) for s in SETTINGS for t in TIMES]
        assert got == want, name
    assert np.isfinite([v for m in payload.values() for s in m.values() for v in s.values()]).all()


def test_breakdown_joins_the_table_and_the_json(files, capsys):
    ann, good, weak = files
    rc = main(["eval", "--annotations", str(ann), "--results", str(good), str(weak), "--json", "-", "--breakdown", "0.5"])
    out, err = capsys.readouterr()
    assert rc == 0
    breakdown = json.loads(out)["breakdown"]
    assert breakdown["good_method"]["ground_truth"]["all"]["all"]["found"] == 6
    assert breakdown["good_method"]["detections"]["all"]["background"] == 1
    assert breakdown["weak_method"]["ground_truth"]["all"]["all"]["missed"] == 6  # its hits score 0.4 < 0.5
    assert "good_method: Reasonable pedestrians" in err and "crowded" not in err  # one pedestrian an image


def test_breakdown_threshold_outside_0_1_is_refused(files, capsys):
    ann, good, _ = files
    assert main(["eval", "--annotations", str(ann), "--results", str(good), "--breakdown", "55"]) == 2
    assert "--breakdown 55" in capsys.readouterr().err
