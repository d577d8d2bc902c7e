"""Tracking scores (eval/mot.py, TrackEval): known cases, distractors, files, ``lsi eval --mot``, and the
synthetic world's track ids."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lsi_perception.cli import main
from lsi_perception.eval.annotations import annotations_from_coco, load_annotations
from lsi_perception.eval.mot import TracksFormatError, TrackTable, evaluate_mot, load_tracks, write_tracks_txt


def two_walkers(frames: int = 10, extra: list[dict] | None = None, track_ids: bool = True) -> dict:
    """A day and a night sequence, two pedestrians each (track ids 1, 2 and 11, 12)."""
    images, anns = [], []
    for s, seq in enumerate(["set06/V000", "set09/V000"]):
        for f in range(frames):
            iid = len(images)
            images.append({"id": iid, "im_name": f"{seq}/I{f:05d}", "width": 640, "height": 512})
            for p in range(2):
                ann = {"id": len(anns), "image_id": iid, "bbox": [100 + 200 * p + 3 * f, 100, 40, 100], "height": 100,
                       "occlusion": 0, "ignore": 0}
                if track_ids:
                    ann["track_id"] = 10 * s + p + 1
                anns.append(ann)
    for e in extra or []:
        anns.append({"id": len(anns), **e})
    return {"images": images, "annotations": anns}


def tracks_equal_to_gt(coco: dict) -> dict[int, np.ndarray]:
    out: dict[int, list] = {}
    for a in coco["annotations"]:
        if not a["ignore"]:
            out.setdefault(a["image_id"], []).append([*a["bbox"], 0.9, a["track_id"]])
    return {k: np.array(v, np.float64) for k, v in out.items()}


def test_perfect_tracks_score_one_and_a_swap_costs_what_the_metrics_define():
    coco = two_walkers()
    ann = annotations_from_coco(coco)
    perfect = evaluate_mot(ann, TrackTable.from_mapping(ann, tracks_equal_to_gt(coco))).scores
    for time in ("all", "day", "night"):
        assert perfect[time]["HOTA"] == pytest.approx(1.0) and perfect[time]["MOTA"] == pytest.approx(1.0)
        assert perfect[time]["IDF1"] == pytest.approx(1.0) and perfect[time]["IDSW"] == 0
    assert perfect["all"]["gt_ids"] == perfect["all"]["tracker_ids"] == 4 and perfect["all"]["frames"] == 20

    swapped = tracks_equal_to_gt(coco)
    for image in range(5, 10):  # the day pedestrians swap ids halfway
        swapped[image][:, 5] = swapped[image][::-1, 5]
    day = evaluate_mot(ann, TrackTable.from_mapping(ann, swapped)).scores["day"]
    assert day["IDSW"] == 2 and day["MOTA"] == pytest.approx(1 - 2 / 20)
    assert day["IDF1"] == pytest.approx(0.5)
    assert day["AssA"] == pytest.approx(1 / 3) and day["HOTA"] == pytest.approx(math.sqrt(1 / 3))


def test_tracks_on_ignore_regions_and_out_of_scope_people_are_neither_rewarded_nor_punished():
    ignore = {"image_id": 0, "bbox": [500, 300, 60, 60], "height": 60, "occlusion": 0, "ignore": 1, "track_id": 99}
    small = {"image_id": 1, "bbox": [20, 400, 6, 12], "height": 12, "occlusion": 0, "ignore": 0, "track_id": 98}
    coco = two_walkers(extra=[ignore, small])
    ann = annotations_from_coco(coco)
    tracks = tracks_equal_to_gt(two_walkers())
    tracks[0] = np.vstack([tracks[0], [500, 300, 60, 60, 0.8, 7]])  # on the ignore region
    tracks[1] = np.vstack([tracks[1], [20, 400, 6, 12, 0.8, 8]])  # on a 12 px person (the "all" setting is 20 px+)
    tracks[2] = np.vstack([tracks[2], [300, 400, 40, 90, 0.8, 9]])  # on nothing: a false positive
    scores = evaluate_mot(ann, TrackTable.from_mapping(ann, tracks)).scores["all"]
    assert scores["CLR_FP"] == 1 and scores["CLR_FN"] == 0 and scores["gt_ids"] == 4


def test_annotations_without_identities_are_a_clear_error():
    ann = annotations_from_coco(two_walkers(track_ids=False))
    with pytest.raises(ValueError, match="no track_id"):
        evaluate_mot(ann, TrackTable.from_mapping(ann, {}))
    bad = two_walkers()
    bad["annotations"][0]["track_id"] = -3
    with pytest.raises(ValueError, match="track_id"):
        annotations_from_coco(bad)


def test_tracks_file_round_trip_and_lsi_eval_mot(tmp_path, capsys):
    coco = two_walkers()
    (tmp_path / "gt.json").write_text(json.dumps(coco))
    ann = load_annotations(tmp_path / "gt.json")
    tracks = tracks_equal_to_gt(coco)
    tracks[3] = np.vstack([tracks[3], [1, 1, 5, 5, 0.2, 0]])  # unconfirmed (track 0): not a track, not written
    path = write_tracks_txt(tmp_path / "tracks.txt", ann, tracks)
    table = load_tracks(path, ann)
    assert len(table) == 40 and set(table.track_ids) == {1, 2, 11, 12}

    assert main(["eval", "--mot", "--annotations", str(tmp_path / "gt.json"), "--results", str(path),
                 "--json", str(tmp_path / "mot.json")]) == 0
    out = capsys.readouterr().out
    assert "HOTA" in out and "IDSW" in out and "100.00" in out
    doc = json.loads((tmp_path / "mot.json").read_text())
    assert doc["results"]["tracks"]["scores"]["all"]["IDF1"] == pytest.approx(1.0)

    (tmp_path / "six.txt").write_text("1,10,10,5,5,0.9\n")
    assert main(["eval", "--mot", "--annotations", str(tmp_path / "gt.json"), "--results", str(tmp_path / "six.txt")]) == 2
    assert "track_id" in capsys.readouterr().err
    with pytest.raises(TracksFormatError, match="outside|1..20"):
        (tmp_path / "far.txt").write_text("99,10,10,5,5,0.9,1\n")
        load_tracks(tmp_path / "far.txt", ann)


def test_synthetic_annotations_give_each_person_one_track_id_unique_in_the_dataset(tmp_path):
    from lsi_perception.data.synthetic import SyntheticConfig, generate_dataset

    generate_dataset(tmp_path, SyntheticConfig(frames=12, frames_per_drive=4, height=96, width=128, test_fraction=0.34,
                                               image_format="png", seed=1, people_per_frame=5))
    per_drive: dict[int, str] = {}
    for split in ("train", "test"):
        coco = json.loads((tmp_path / "annotations" / f"{split}.json").read_text())
        names = {im["id"]: im["im_name"] for im in coco["images"]}
        for a in coco["annotations"]:
            drive = names[a["image_id"]].rsplit("/", 1)[0]
            assert isinstance(a["track_id"], int) and a["track_id"] >= 1
            assert per_drive.setdefault(a["track_id"], drive) == drive  # one person never spans two drives
    assert len(set(per_drive.values())) == 3 and len(per_drive) >= 6
