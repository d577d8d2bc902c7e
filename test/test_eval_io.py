"""Reading and writing annotations and results files: formats, round trips, and errors that name file and line."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lsi_perception.eval import (
    AnnotationFormatError,
    ResultsFormatError,
    evaluate,
    load_annotations,
    load_results,
    write_results_txt,
)

ANNOTATIONS = {
    "images": [
        {"id": 0, "im_name": "set06/V000/I00019", "width": 640, "height": 512},
        {"id": 1, "im_name": "set06/V000/I00039", "width": 640, "height": 512},
        {"id": 2, "im_name": "set09/V000/I00019", "width": 640, "height": 512},
    ],
    "annotations": [
        {"id": 0, "image_id": 0, "category_id": 1, "bbox": [100, 100, 30, 70], "height": 70, "occlusion": 0, "ignore": 0},
        {"id": 1, "image_id": 2, "category_id": 1, "bbox": [300, 120, 40, 90], "height": 90, "occlusion": 1, "ignore": 0},
        {"id": 2, "image_id": 2, "category_id": 3, "bbox": [400, 120, 80, 60], "height": 60, "occlusion": 0, "ignore": 0},
    ],
    "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "people"}],
}


@pytest.fixture()
def ann_path(tmp_path):
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(ANNOTATIONS))
    return path


def test_annotations_are_flattened_with_people_as_ignore_regions(ann_path):
    ann = load_annotations(ann_path)
    assert ann.num_images == 3 and ann.im_names[2] == "set09/V000/I00019"
    np.testing.assert_array_equal(ann.gt_start, [0, 1, 1, 3])
    np.testing.assert_array_equal(ann.gt_ignore, [False, False, True])  # category "people"
    assert ann.time_of_day == ("day", "day", "night")


def test_txt_ids_are_1_based_and_json_ids_are_the_image_ids(tmp_path, ann_path):
    ann = load_annotations(ann_path)
    txt = tmp_path / "m.txt"
    txt.write_text("1,100,100,30,70,0.9\n\n3 300 120 40 90 0.8\n3,10,10,20,50,0.1\n")
    coco = tmp_path / "m.json"
    coco.write_text(json.dumps([
        {"image_id": 0, "category_id": 1, "bbox": [100, 100, 30, 70], "score": 0.9},
        {"image_id": 2, "category_id": 1, "bbox": [300, 120, 40, 90], "score": 0.8},
        {"image_id": 2, "category_id": 1, "bbox": [10, 10, 20, 50], "score": 0.1},
    ]))
    from_txt, from_json = load_results(txt, ann), load_results(coco, ann)
    assert sorted(from_txt) == sorted(from_json) == [0, 2]
    for k in from_txt:
        np.testing.assert_allclose(from_txt[k], from_json[k])
    np.testing.assert_allclose(from_txt[2][:, 4], [0.8, 0.1])


def test_write_results_txt_round_trips(tmp_path, ann_path):
    ann = load_annotations(ann_path)
    dets = {"set06/V000/I00019": np.array([[100.12345, 100, 30, 70, 0.5], [5, 6, 7, 8, 0.75]]),
            2: np.array([[300, 120, 40, 90, 0.25]])}
    path = write_results_txt(tmp_path / "out" / "r.txt", ann, dets)
    assert path.read_text().splitlines()[0] == "1,5.0000,6.0000,7.0000,8.0000,0.75000000"  # best first
    again = load_results(path, ann)
    np.testing.assert_allclose(again[0], [[5, 6, 7, 8, 0.75], [100.1235, 100, 30, 70, 0.5]])
    assert evaluate(ann, again).to_json() == evaluate(ann, dets).to_json()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("1,1,2,3,4,0.5\n1,1,2,3,0.5\n", r":2: expected 6 comma-separated fields"),
        ("1,1,2,3,4,0.5\n2,a,2,3,4,0.5\n", r":2: non-numeric field"),
        ("0,1,2,3,4,0.5\n", r":1: image id 0 is outside 1..3"),
        ("\n4,1,2,3,4,0.5\n", r":2: image id 4 is outside 1..3"),
        ("1.5,1,2,3,4,0.5\n", r":1: image id '1.5' is not an integer"),
        ("1,1,2,-3,4,0.5\n", r":1: negative box size"),
        ("1,1,2,3,4,nan\n", r":1: NaN or infinite"),
    ],
)
def test_malformed_txt_lines_name_file_and_line(tmp_path, ann_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(ResultsFormatError, match=message) as info:
        load_results(path, load_annotations(ann_path))
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"image_id": 7, "bbox": [1, 2, 3, 4], "score": 0.5}]', r"element \[0\]: image_id 7 is not an image id"),
        ('[{"image_id": 0, "bbox": [1, 2, 3], "score": 0.5}]', r"element \[0\]: 'bbox' must be"),
        ('[{"image_id": 0, "bbox": [1, 2, 3, 4], "score": "high"}]', r"must be numbers"),
        ('[{"image_id": 0,\n "bbox": [1, 2, 3, 4],, "score": 0.5}]', r":2: not valid JSON"),
    ],
)
def test_malformed_coco_results_name_file_and_element(tmp_path, ann_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ResultsFormatError, match=message):
        load_results(path, load_annotations(ann_path))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], r"top level: expected a JSON object"),
        ({"images": []}, r"'annotations' is missing or not a list"),
        ({"images": [{"id": 0}], "annotations": []}, r"images\[0\]: 'im_name'"),
        ({"images": [{"id": 0, "im_name": "a"}, {"id": 0, "im_name": "b"}], "annotations": []}, r"images\[1\]: duplicate image id 0"),
        ({"images": [{"id": 0, "im_name": "a"}], "annotations": [{"image_id": 5, "bbox": [1, 2, 3, 4]}]},
         r"annotations\[0\]: 'image_id' 5 is not the id"),
        ({"images": [{"id": 0, "im_name": "a"}], "annotations": [{"image_id": 0, "bbox": [1, 2]}]}, r"annotations\[0\]: 'bbox'"),
        ({"images": [{"id": 0, "im_name": "a"}], "annotations": [{"image_id": 0, "bbox": [1, 2, 3, 4], "occlusion": 3}]},
         r"'occlusion' must be 0"),
        ({"images": [{"id": 0, "im_name": "a", "time_of_day": "dusk"}], "annotations": []}, r"'time_of_day' must be"),
        ({"images": [{"id": 0, "im_name": "a"}], "annotations": [{"id": "7", "image_id": 0, "bbox": [1, 2, 3, 4]}]},
         r"annotations\[0\]: 'id' must be a non-negative integer"),
    ],
)
def test_annotation_files_of_the_wrong_shape_are_rejected_with_the_element(tmp_path, data, message):
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationFormatError, match=message) as info:
        load_annotations(path)
    assert str(path) in str(info.value)


def test_invalid_json_and_missing_files(tmp_path):
    path = tmp_path / "ann.json"
    path.write_text('{"images": [\n  {"id": 0,}\n]}')
    with pytest.raises(AnnotationFormatError, match=r"line 2 column"):
        load_annotations(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_annotations(tmp_path / "missing.json")


def test_optional_fields_default(tmp_path):
    """height defaults to the box height, occlusion and ignore to 0, image size to 640x512."""
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"images": [{"id": 3, "im_name": "set00/V000/I00000"}],
                                "annotations": [{"image_id": 3, "bbox": [10, 10, 30, 70]}]}))
    ann = load_annotations(path)
    assert ann.gt_height.tolist() == [70.0] and ann.gt_occlusion.tolist() == [0] and ann.gt_ignore.tolist() == [False]
    assert ann.gt_ids.tolist() == [-1]  # no id: the reference protocol's id-0 rule cannot apply
    assert ann.image_sizes.tolist() == [[640.0, 512.0]] and ann.image_ids.tolist() == [3]


@pytest.mark.parametrize("suffix", [".gz", ".xz", ".bz2"])
def test_compressed_files_are_read_as_they_are(tmp_path, ann_path, suffix):
    import bz2
    import gzip
    import lzma

    compress = {".gz": gzip.compress, ".xz": lzma.compress, ".bz2": bz2.compress}[suffix]
    packed_ann = tmp_path / f"ann.json{suffix}"
    packed_ann.write_bytes(compress(ann_path.read_bytes()))
    results = "1,100,100,30,70,0.9\n3,300,120,40,90,0.8\n"
    plain = tmp_path / "m.txt"
    plain.write_text(results)
    packed = tmp_path / f"m.txt{suffix}"
    packed.write_bytes(compress(results.encode()))
    ann, ann_from_packed = load_annotations(ann_path), load_annotations(packed_ann)
    np.testing.assert_array_equal(ann.gt_boxes, ann_from_packed.gt_boxes)
    assert evaluate(ann, load_results(packed, ann_from_packed)).to_json() == evaluate(ann, load_results(plain, ann)).to_json()


def test_a_corrupt_compressed_file_is_a_clear_error(tmp_path):
    path = tmp_path / "ann.json.xz"
    path.write_bytes(b"not xz at all")
    with pytest.raises(ValueError, match=r"ann.json.xz cannot be read .*\.gz/\.xz/\.bz2"):
        load_annotations(path)
