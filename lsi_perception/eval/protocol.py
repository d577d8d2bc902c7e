"""Evaluation protocols: which ground truths and matches count toward the miss rate.

``reference`` (the default) reproduces the KAIST benchmark's reference evaluator (``evaluation_script.py``
as shipped with the MLPD code, a derivative of the COCO evaluator), whose figures published KAIST papers
report. It differs from counting every pedestrian in two ways, both consequences of how that code is
written rather than stated rules of the benchmark:

* Per image: the reference evaluates image by image and returns nothing for an image on which the method
  has no detection, so that image's ground truths are never counted (neither found nor missed), while
  FPPI still divides by every image of the subset. A method is not charged for pedestrians on images
  where it outputs nothing at all.
* Annotation id 0: the reference records a match as the matched annotation's ``id`` and reads 0 as "no
  match", so the detection that matches the ground truth with id 0 is counted as a false positive and
  that pedestrian as missed. In the KAIST test annotations this is the first pedestrian (image
  ``set06/V000/I00019``, 50 px, no occlusion): it moves All, Medium, Occ none and Reasonable small
  (all and day) by up to 0.05 points.

``strict`` counts every non-ignored ground truth of every image of the subset, and annotation ids play
no part: a frame without detections misses all of its pedestrians. Use it to score a detector at its
operating point (bags, validation); use ``reference`` to compare with published KAIST tables.

Two further quirks of the reference code are deliberately not reproduced by either protocol, as they
cannot change any figure of a well-formed KAIST submission:

* it reorders an image's overlap matrix by score twice, which misaligns detections and overlaps when a
  results file does not list each image's detections best first (every published file we have does);
  here detections are always matched in descending score;
* where the first counted detection already lies above FPPI 0.01 (a false positive on a set of fewer than
  100 images), it samples the *final* recall there (a negative list index); here the miss rate is 1;
* it keeps only category 1 (person) of annotations and COCO results; here an annotation of another named
  category (people, cyclist, person?) is an ignore region, as in the Caltech devkit, and a result's
  ``category_id`` is not read. Its KAIST file encodes those labels as person annotations with
  ``ignore: 1`` and published results are all category 1, so the two agree there.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    """How ground truths are counted; ``rule`` is the one-sentence summary printed with every table."""

    name: str
    skip_images_without_detections: bool  # their ground truths are not counted (FPPI still counts the image)
    annotation_id_zero_unmatched: bool  # a match to the annotation with id 0 is a false positive
    rule: str


REFERENCE = Protocol(
    name="reference",
    skip_images_without_detections=True,
    annotation_id_zero_unmatched=True,
    rule="as the KAIST reference evaluator and published papers: an image on which the method has no detection "
    "contributes no ground truths (never counted as misses) while FPPI still divides by every image, and a match "
    "to the annotation with id 0 counts as a false positive",
)
STRICT = Protocol(
    name="strict",
    skip_images_without_detections=False,
    annotation_id_zero_unmatched=False,
    rule="every non-ignored ground truth of every image counts",
)
PROTOCOLS: tuple[Protocol, ...] = (REFERENCE, STRICT)
PROTOCOLS_BY_NAME: dict[str, Protocol] = {p.name: p for p in PROTOCOLS}
DEFAULT_PROTOCOL = REFERENCE.name


def get_protocol(protocol: str | Protocol) -> Protocol:
    """The Protocol named ``protocol`` ("reference" or "strict"), or ``protocol`` itself."""
    if isinstance(protocol, Protocol):
        return protocol
    found = PROTOCOLS_BY_NAME.get(protocol)
    if found is None:
        raise ValueError(f"unknown evaluation protocol {protocol!r}; choose one of {', '.join(PROTOCOLS_BY_NAME)}")
    return found
