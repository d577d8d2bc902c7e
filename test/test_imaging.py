"""Preprocessing shared by training and the Detector: thermal policies, letterbox, normalization, errors."""
from __future__ import annotations

import numpy as np
import pytest

from lsi_perception.config import PreprocessConfig, ThermalPolicy
from lsi_perception.imaging import (
    check_rgb,
    letterbox,
    normalize_pair,
    preprocess_pair,
    thermal_to_unit,
)


def test_uint8_thermal_is_divided_by_255_whatever_the_policy():
    img = np.array([[0, 51, 255]], np.uint8)
    for policy in (ThermalPolicy(mode="linear"), ThermalPolicy(mode="percentile")):
        out = thermal_to_unit(img, policy)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, [[0.0, 0.2, 1.0]], atol=1e-7)


def test_uint16_linear_range_maps_and_clips():
    img = np.array([[1000, 2000, 3000, 5000]], np.uint16)
    out = thermal_to_unit(img, ThermalPolicy(mode="linear", low=2000, high=4000))
    np.testing.assert_allclose(out, [[0.0, 0.0, 0.5, 1.0]], atol=1e-6)


def test_percentile_agc_maps_the_image_range_to_unit():
    img = np.arange(101, dtype=np.uint16).reshape(1, 101) * 100 + 20000
    out = thermal_to_unit(img, ThermalPolicy(mode="percentile", p_low=10, p_high=90))
    assert out[0, 10] == pytest.approx(0.0, abs=1e-6)
    assert out[0, 50] == pytest.approx(0.5, abs=1e-6)
    assert out[0, 90] == pytest.approx(1.0, abs=1e-6)
    assert out.min() == 0.0 and out.max() == 1.0


def test_flat_16bit_image_under_agc_is_zero_not_nan():
    out = thermal_to_unit(np.full((4, 4), 31000, np.uint16), ThermalPolicy(mode="percentile"))
    assert np.all(out == 0.0)


def test_float_radiometric_thermal_uses_the_policy():
    img = np.array([[273.0, 283.0, 293.0]], np.float32)
    out = thermal_to_unit(img, ThermalPolicy(mode="linear", low=273.0, high=293.0))
    np.testing.assert_allclose(out, [[0.0, 0.5, 1.0]], atol=1e-6)


def test_thermal_channel_layouts_accepted():
    gray = np.random.default_rng(0).integers(0, 255, (6, 8), dtype=np.uint8)
    policy = ThermalPolicy()
    ref = thermal_to_unit(gray, policy)
    np.testing.assert_array_equal(thermal_to_unit(gray[..., None], policy), ref)
    np.testing.assert_array_equal(thermal_to_unit(np.repeat(gray[..., None], 3, axis=2), policy), ref)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((4, 4), np.int32), "uint8, uint16 or float32"),
    (np.zeros((4, 4, 2), np.uint8), "HxW"),
    (np.zeros((2, 4, 4), np.uint16), "HxW"),
])
def test_bad_thermal_raises_naming_the_expected_form(bad, match):
    with pytest.raises(ValueError, match=match):
        thermal_to_unit(bad, ThermalPolicy())


@pytest.mark.parametrize("bad, match", [
    (np.zeros((4, 4, 3), np.float32), "uint8"),
    (np.zeros((4, 4), np.uint8), "HxWx3"),
    (np.zeros((4, 4, 4), np.uint8), "HxWx3"),
    ([[1, 2, 3]], "numpy array"),
])
def test_bad_rgb_raises_naming_the_expected_form(bad, match):
    with pytest.raises(ValueError, match=match):
        check_rgb(bad)


def test_letterbox_kaist_size_is_untouched():
    lb = letterbox(512, 640, PreprocessConfig(input_size=(512, 640)))
    assert (lb.out_h, lb.out_w, lb.pad_h, lb.pad_w, lb.scale) == (512, 640, 0, 0, 1.0)
    assert not lb.needs_resize


def test_letterbox_fits_keeps_aspect_and_pads_to_multiple():
    lb = letterbox(720, 1280, PreprocessConfig(input_size=(512, 640), pad_multiple=32))
    assert lb.scale == pytest.approx(0.5)
    assert (lb.out_h, lb.out_w) == (360, 640)
    assert (lb.padded_h, lb.padded_w) == (384, 640)


def test_letterbox_native_odd_size_only_pads():
    lb = letterbox(100, 130, PreprocessConfig(input_size=None, pad_multiple=32))
    assert (lb.out_h, lb.out_w, lb.padded_h, lb.padded_w) == (100, 130, 128, 160)


def test_letterbox_box_mapping_round_trips_and_clips():
    lb = letterbox(720, 1280, PreprocessConfig(input_size=(512, 640)))
    boxes = np.array([[100.0, 50.0, 300.0, 700.0]], np.float32)
    np.testing.assert_allclose(lb.to_original(lb.to_network(boxes)), boxes, rtol=1e-6)
    outside = lb.to_original(np.array([[-5.0, -5.0, 700.0, 380.0]]))  # into the padding
    np.testing.assert_allclose(outside, [[0.0, 0.0, 1280.0, 720.0]])


def test_normalize_pair_formula_and_layout():
    cfg = PreprocessConfig()
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 255
    th = np.full((2, 3), 0.75, np.float32)
    rgb_n, th_n = normalize_pair(rgb, th, cfg)
    assert rgb_n.shape == (3, 2, 3) and th_n.shape == (1, 2, 3)
    assert rgb_n.dtype == th_n.dtype == np.float32
    np.testing.assert_allclose(rgb_n[0], (1.0 - cfg.rgb_mean[0]) / cfg.rgb_std[0], rtol=1e-5)
    np.testing.assert_allclose(rgb_n[1], -cfg.rgb_mean[1] / cfg.rgb_std[1], rtol=1e-5)
    np.testing.assert_allclose(th_n, (0.75 - cfg.thermal_mean) / cfg.thermal_std, rtol=1e-6)


def test_preprocess_pair_blanks_a_missing_modality_and_checks_sizes():
    cfg = PreprocessConfig(input_size=None)
    rgb = np.full((40, 50, 3), 200, np.uint8)
    rgb_n, th_n, lb = preprocess_pair(rgb, None, cfg)
    assert rgb_n.shape == (3, 64, 64) and th_n.shape == (1, 64, 64)
    assert np.all(th_n == 0.0)                       # blank = zeros in normalized space
    assert np.all(rgb_n[:, 40:, :] == 0.0) and np.all(rgb_n[:, :, 50:] == 0.0)  # padding
    with pytest.raises(ValueError, match="same size"):
        preprocess_pair(rgb, np.zeros((40, 51), np.uint8), cfg)
    with pytest.raises(ValueError, match="at least one"):
        preprocess_pair(None, None, cfg)
