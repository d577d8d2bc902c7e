"""image_codec (the one image codec) and alignment, without ROS: every encoding, padding, endianness, errors."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lsi_perception.pipeline.alignment import AlignmentError, ThermalAligner
from lsi_perception.pipeline.image_codec import (
    ImageDecodeError,
    as_rgb,
    as_thermal,
    compress_image,
    decode_compressed,
    encoding_of,
    image_fields,
    raw_to_array,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def roundtrip(array, encoding, **kw):
    f = image_fields(array, encoding, **kw)
    return raw_to_array(f["encoding"], f["height"], f["width"], f["step"], f["is_bigendian"], f["data"])


@pytest.mark.parametrize("encoding,source", [
    ("rgb8", RGB), ("bgr8", RGB[:, :, ::-1]),
    ("rgba8", np.dstack([RGB, np.full((5, 7), 9, np.uint8)])),
    ("bgra8", np.dstack([RGB[:, :, ::-1], np.full((5, 7), 9, np.uint8)])),
])
@pytest.mark.parametrize("padding", [0, 5])
def test_color_encodings_decode_to_rgb(encoding, source, padding):
    step = source.shape[1] * source.shape[2] + padding
    assert np.array_equal(as_rgb(roundtrip(source, encoding, step=step), encoding), RGB)


@pytest.mark.parametrize("encoding,dtype", [("mono8", np.uint8), ("8UC1", np.uint8), ("mono16", np.uint16),
                                            ("16UC1", np.uint16), ("32FC1", np.float32)])
@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("padding", [0, 6])
def test_mono_encodings_keep_dtype_values_and_byte_order(encoding, dtype, big_endian, padding):
    info = np.iinfo(dtype) if dtype != np.float32 else None
    thermal = (RNG.integers(0, info.max, (4, 6)) if info else RNG.normal(300, 5, (4, 6))).astype(dtype)
    step = 6 * np.dtype(dtype).itemsize + padding
    out = as_thermal(roundtrip(thermal, encoding, step=step, is_bigendian=big_endian), encoding)
    assert out.dtype == dtype and out.shape == (4, 6)
    assert np.array_equal(out, thermal)


def test_color_thermal_becomes_gray_and_mono_rgb_becomes_three_channels():
    assert as_thermal(RGB, "rgb8").shape == (5, 7)
    gray = RGB[:, :, 0]
    assert np.array_equal(as_rgb(gray, "mono8"), np.dstack([gray] * 3))
    assert as_rgb(np.full((2, 2), 65535, np.uint16), "mono16").max() == 255


def test_unknown_encoding_and_short_data_are_named():
    with pytest.raises(ImageDecodeError, match="unsupported image encoding 'yuv422'"):
        raw_to_array("yuv422", 2, 2, 4, 0, bytes(8))
    with pytest.raises(ImageDecodeError, match="shorter than step x height"):
        raw_to_array("rgb8", 4, 4, 12, 0, bytes(40))
    with pytest.raises(ImageDecodeError, match="step=5 is smaller"):
        raw_to_array("rgb8", 4, 4, 5, 0, bytes(100))


def test_compressed_jpeg_png_and_16bit_png():
    smooth = cv2.resize(RGB, (64, 48), interpolation=cv2.INTER_LINEAR)  # jpeg is lossy on noise
    ok, jpg = cv2.imencode(".jpg", smooth[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    arr, enc = decode_compressed("jpeg", jpg.tobytes())
    assert enc == "bgr8" and np.abs(as_rgb(arr, enc).astype(int) - smooth).mean() < 4
    ok, png = cv2.imencode(".png", RGB[:, :, ::-1])
    arr, enc = decode_compressed("rgb8; png compressed bgr8", png.tobytes())
    assert np.array_equal(as_rgb(arr, enc), RGB)
    t16 = RNG.integers(0, 65535, (6, 5)).astype(np.uint16)
    ok, png16 = cv2.imencode(".png", t16)
    arr, enc = decode_compressed("mono16; png compressed", png16.tobytes())
    assert enc == "mono16" and np.array_equal(as_thermal(arr, enc), t16)


def test_corrupt_compressed_is_an_error():
    with pytest.raises(ImageDecodeError, match="not a decodable jpeg or png"):
        decode_compressed("jpeg", b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(ImageDecodeError, match="no data"):
        decode_compressed("png", b"")


@pytest.mark.parametrize("array,encoding", [
    (RGB, "rgb8"), (RGB[:, :, 0], "mono8"), (RGB[:, :, 0].astype(np.uint16) * 257, "mono16"),
    (RGB[:, :, 0].astype(np.float32) / 7, "32FC1"),
])
def test_image_fields_default_encoding_roundtrip(array, encoding):
    f = image_fields(array)
    assert f["encoding"] == encoding_of(array) == encoding
    assert np.array_equal(raw_to_array(**{k: f[k] for k in ("encoding", "height", "width", "step", "is_bigendian", "data")}), array)


def test_images_no_encoding_describes_are_rejected():
    with pytest.raises(ValueError, match="cannot encode"):
        encoding_of(np.zeros((4, 4, 3), np.uint16))


def test_compressed_formats_follow_image_transport_and_keep_16_bit():
    fmt, data = compress_image(RGB)
    assert fmt == "rgb8; jpeg compressed bgr8"
    decoded, encoding = decode_compressed(fmt, data)
    assert encoding == "bgr8" and decoded.shape == RGB.shape
    t16 = RNG.integers(0, 65536, (6, 9), dtype=np.uint16)
    fmt, data = compress_image(t16)
    assert fmt == "mono16; png compressed mono16"
    decoded, encoding = decode_compressed(fmt, data)
    assert encoding == "mono16" and np.array_equal(decoded, t16)


def test_aligner_identity_needs_same_size_and_homography_warps():
    thermal = RNG.integers(0, 255, (64, 80)).astype(np.uint8)
    assert ThermalAligner(np.eye(3).ravel()).align(thermal, (64, 80)) is thermal
    with pytest.raises(AlignmentError, match="homography"):
        ThermalAligner(np.eye(3).ravel()).align(thermal, (128, 160))
    scale2 = [2.0, 0, 0, 0, 2.0, 0, 0, 0, 1]
    warped = ThermalAligner(scale2).align(thermal, (128, 160))
    assert warped.shape == (128, 160) and warped.dtype == np.uint8
    assert np.allclose(warped[::2, ::2].astype(float), thermal, atol=1)
    t16 = thermal.astype(np.uint16) * 200
    assert ThermalAligner(scale2).align(t16, (128, 160)).dtype == np.uint16
