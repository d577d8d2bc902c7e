"""``lsi predict --track``: the node's tracking stage on image folders, stamped from the frame numbers, one
timeline per sequence, and ``tracks.txt`` read back by ``lsi eval --mot``."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from lsi_perception.cli import main
from lsi_perception.data.synthetic import SyntheticConfig, generate_dataset
from lsi_perception.eval import load_annotations
from lsi_perception.eval.mot import load_tracks
from lsi_perception.pipeline.processor import PairProcessor
from lsi_perception.pipeline.tracking import PairTracker
from lsi_perception.predict.tracking import TrackStage


def test_track_stage_stamps_pairs_from_their_names_and_starts_each_sequence_afresh():
    processor = PairProcessor(detector=None, tracker=PairTracker())
    stage = TrackStage(processor, fps=20.0)
    assert stage.stamp_ns("set06/V000/I00019") == 950_000_000
    assert stage.stamp_ns("set06/V000/I00020") == 1_000_000_000 and processor.tracker.stats.resets == 0
    assert stage.stamp_ns("set06/V001/I00000") == 0 and processor.tracker.stats.resets == 1
    assert stage.stamp_ns("frames/clip") == 0  # no number: the position in its sequence
    with pytest.raises(ValueError, match="tracker"):
        TrackStage(PairProcessor(detector=None), fps=20.0)
    with pytest.raises(ValueError, match="fps"):
        TrackStage(processor, fps=0)
    assert stage("frames/clip2", SimpleNamespace(detections=None)).detections is None  # nothing detected: left alone


def test_lsi_predict_track_writes_tracks_that_lsi_eval_mot_scores(tmp_path, random_checkpoint, capsys):
    root = tmp_path / "drives"
    generate_dataset(root, SyntheticConfig(frames=8, frames_per_drive=4, height=96, width=128, test_fraction=0.0,
                                           image_format="png", seed=2))
    annotations = root / "annotations" / "train.json"
    out = tmp_path / "pred"
    assert main(["predict", "--rgb", str(root / "images"), "--thermal", str(root / "images"), "--naming", "kaist",
                 "--annotations", str(annotations), "--out", str(out), "--track", "--no-overlays",
                 "--checkpoint", str(random_checkpoint), "--device", "cpu"]) == 0
    ann = load_annotations(annotations)
    tracks = load_tracks(out / "tracks.txt", ann)
    assert len(tracks) > 0 and (tracks.track_ids > 0).all()
    sequence = np.array([ann.im_names[i].rsplit("/", 1)[0] for i in tracks.image])
    first, second = (set(tracks.track_ids[sequence == s]) for s in sorted(set(sequence)))
    assert first and second and not first & second  # a new sequence is a new timeline with new ids
    capsys.readouterr()
    assert main(["eval", "--mot", "--annotations", str(annotations), "--results", str(out / "tracks.txt")]) == 0
    assert "HOTA" in capsys.readouterr().out
