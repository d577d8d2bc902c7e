"""sensor_msgs/Image and CompressedImage <-> numpy, on plain fields (no rclpy): the one image codec.

* ``raw_to_array(encoding, height, width, step, is_bigendian, data)``: the image as the message stores it
  (what cv_bridge's ``imgmsg_to_cv2(msg, "passthrough")`` returns): row padding (``step``) removed,
  multi-byte pixels converted to native byte order.
* ``as_rgb(array, encoding)``: any supported encoding -> HxWx3 uint8 in RGB order (what Detector takes).
* ``as_thermal(array, encoding)``: -> HxW uint8, uint16 or float32 (radiometric), channel order irrelevant;
  a thermal image that cannot give a trustworthy result (NaN / inf pixels, every pixel the same) is an
  error, never an image the detector would quietly find nothing in.
* ``decode_compressed(format, data)``: jpeg / png bytes -> array + the encoding it decodes to
  (16-bit png stays 16-bit, for thermal).
* ``message_to_array(msg)`` / ``decode_rgb_message`` / ``decode_thermal_message``: the same on a message
  object (rclpy or rosbags: only its fields are read).
* ``encoding_of`` / ``image_fields`` / ``compress_image``: numpy -> Image / CompressedImage fields.

Every problem raises ``ImageDecodeError`` (a ValueError) naming the field at fault and the fix.
"""
from __future__ import annotations

import sys

import cv2
import numpy as np

# encoding -> (numpy dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
_NATIVE_BIG_ENDIAN = sys.byteorder == "big"


class ImageDecodeError(ValueError):
    """An image message that cannot be turned into an array (the message names the problem)."""


def raw_to_array(encoding: str, height: int, width: int, step: int, is_bigendian: bool | int,
                 data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """The pixels of a sensor_msgs/Image as an HxW or HxWxC array in native byte order.

    Zero-copy where possible: the result may be a view of ``data`` (read-only), so copy before writing.
    """
    if encoding not in ENCODINGS:
        raise ImageDecodeError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(ENCODINGS)} "
            "(republish with image_proc or a format converter)"
        )
    dtype, channels = ENCODINGS[encoding]
    if height <= 0 or width <= 0:
        raise ImageDecodeError(f"image has no pixels: height={height}, width={width}")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageDecodeError(
            f"step={step} is smaller than width x channels x bytes = {row_bytes} for {encoding} {width}x{height}"
        )
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1).view(np.uint8)
    needed = step * (height - 1) + row_bytes
    if buf.size < needed:
        raise ImageDecodeError(
            f"image data is {buf.size} bytes, shorter than step x height = {step} x {height} "
            f"(at least {needed} needed) for {encoding} {width}x{height}: truncated or mislabelled message"
        )
    rows = np.lib.stride_tricks.as_strided(buf, shape=(height, row_bytes), strides=(step, 1)) if step != row_bytes \
        else buf[: height * row_bytes].reshape(height, row_bytes)
    if dtype.itemsize > 1:
        rows = np.ascontiguousarray(rows)  # multi-byte view needs aligned contiguous rows
        order = ">" if bool(is_bigendian) else "<"
        arr = rows.view(dtype.newbyteorder(order))
        if bool(is_bigendian) != _NATIVE_BIG_ENDIAN:
            arr = arr.astype(dtype)  # byte-swap to native
    else:
        arr = rows
    arr = arr.reshape(height, width, channels) if channels > 1 else arr.reshape(height, width)
    return arr


_TO_RGB = {
    "bgr8": cv2.COLOR_BGR2RGB,
    "rgba8": cv2.COLOR_RGBA2RGB,
    "bgra8": cv2.COLOR_BGRA2RGB,
    "mono8": cv2.COLOR_GRAY2RGB,
    "8UC1": cv2.COLOR_GRAY2RGB,
}


def as_rgb(array: np.ndarray, encoding: str) -> np.ndarray:
    """HxWx3 uint8 RGB from an array in ``encoding`` (16-bit and float mono are scaled to 8 bits)."""
    if encoding == "rgb8":
        return array
    if encoding in _TO_RGB:
        return cv2.cvtColor(np.ascontiguousarray(array), _TO_RGB[encoding])
    if encoding in ("mono16", "16UC1"):
        return cv2.cvtColor((array >> 8).astype(np.uint8), cv2.COLOR_GRAY2RGB)
    if encoding == "32FC1":
        check_finite(array, "32FC1 image")
        return cv2.cvtColor(cv2.normalize(array, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8), cv2.COLOR_GRAY2RGB)
    raise ImageDecodeError(f"cannot use encoding {encoding!r} as an RGB image; supported: {', '.join(ENCODINGS)}")


_TO_GRAY = {
    "rgb8": cv2.COLOR_RGB2GRAY,
    "bgr8": cv2.COLOR_BGR2GRAY,
    "rgba8": cv2.COLOR_RGBA2GRAY,
    "bgra8": cv2.COLOR_BGRA2GRAY,
}


def as_thermal(array: np.ndarray, encoding: str) -> np.ndarray:
    """HxW thermal image: uint8 / uint16 kept, 32FC1 as float32 (radiometric), color converted to gray.

    Raises ImageDecodeError for NaN / inf pixels and for a constant image (see ``check_thermal_values``).
    """
    if encoding in ("mono8", "8UC1", "mono16", "16UC1", "32FC1"):
        thermal = array
    elif encoding in _TO_GRAY:
        thermal = cv2.cvtColor(np.ascontiguousarray(array), _TO_GRAY[encoding])
    else:
        raise ImageDecodeError(f"cannot use encoding {encoding!r} as a thermal image; supported: {', '.join(ENCODINGS)}")
    check_thermal_values(thermal, encoding)
    return thermal


def check_finite(array: np.ndarray, what: str) -> None:
    """Raise ImageDecodeError if a float image holds NaN or inf (integer images always pass)."""
    if array.dtype.kind != "f":
        return
    lo, hi = float(array.min()), float(array.max())  # NaN and inf propagate to min / max
    if np.isfinite(lo) and np.isfinite(hi):
        return
    bad = int(np.count_nonzero(~np.isfinite(array)))
    raise ImageDecodeError(
        f"{what} has {bad} of {array.size} pixels NaN or inf: no trustworthy detection is possible on it "
        "(the driver marks invalid pixels this way, or the sensor is not ready); make the camera driver "
        "publish finite temperatures (replace invalid pixels), or publish mono16 counts instead"
    )


def check_thermal_values(thermal: np.ndarray, encoding: str) -> None:
    """Raise ImageDecodeError when a thermal image carries no usable signal: NaN / inf pixels, or every
    pixel the same value (lens cap, shutter closed for flat-field correction, a dead or unstarted sensor;
    a real scene always has some temperature spread and noise). Reporting an error here is what keeps
    such a frame from being published as "no pedestrians"."""
    check_finite(thermal, f"thermal {encoding} image")
    lo, hi = thermal.min(), thermal.max()
    if lo == hi:
        raise ImageDecodeError(
            f"thermal {encoding} image is constant (every pixel = {lo.item()}): no scene in it (lens cap, shutter "
            "closed for flat-field correction, or a sensor not streaming yet); check the thermal camera"
        )


def decode_compressed(fmt: str, data: bytes | bytearray | memoryview | np.ndarray) -> tuple[np.ndarray, str]:
    """Decode a CompressedImage (jpeg or png) -> (array, encoding of the array).

    Color decodes to ``bgr8`` (OpenCV's order), gray to ``mono8``, 16-bit png to ``mono16``.
    ``compressedDepth`` (the depth_image_transport format, with its own header) is not supported.
    """
    if "compresseddepth" in fmt.lower():
        raise ImageDecodeError(f"CompressedImage format {fmt!r} (compressedDepth) is not supported; publish png or jpeg")
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1).view(np.uint8)
    if buf.size == 0:
        raise ImageDecodeError(f"CompressedImage (format {fmt!r}) has no data")
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageDecodeError(
            f"CompressedImage (format {fmt!r}, {buf.size} bytes) is not a decodable jpeg or png: corrupt or truncated data"
        )
    if img.ndim == 2:
        if img.dtype == np.uint16:
            return img, "mono16"
        if img.dtype == np.uint8:
            return img, "mono8"
    elif img.dtype == np.uint8 and img.shape[2] == 3:
        return img, "bgr8"
    elif img.dtype == np.uint8 and img.shape[2] == 4:
        return img, "bgra8"
    elif img.dtype == np.uint16 and img.shape[2] in (3, 4):  # 16-bit color png: keep 8 MSBs
        return (img[:, :, :3] >> 8).astype(np.uint8), "bgr8"
    raise ImageDecodeError(f"CompressedImage decoded to an unsupported layout {img.shape} {img.dtype}")


def encoding_of(array: np.ndarray, rgb_order: str = "rgb") -> str:
    """The ROS encoding describing a numpy image: uint8 HxWx3 -> rgb8 / bgr8 (``rgb_order``); HxW (or HxWx1)
    uint8 / uint16 / float32 -> mono8 / mono16 / 32FC1. Any other layout is a ValueError."""
    if array.ndim == 3 and array.shape[2] == 3 and array.dtype == np.uint8:
        if rgb_order not in ("rgb", "bgr"):
            raise ValueError(f"rgb_order={rgb_order!r} must be 'rgb' or 'bgr'")
        return "rgb8" if rgb_order == "rgb" else "bgr8"
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
        for encoding in ("mono8", "mono16", "32FC1"):
            if array.dtype == ENCODINGS[encoding][0]:
                return encoding
    raise ValueError(
        f"cannot encode an image of shape {array.shape} and dtype {array.dtype}: expected uint8 HxWx3 "
        "(color) or HxW uint8/uint16/float32 (thermal)"
    )


def image_fields(array: np.ndarray, encoding: str | None = None, *, step: int | None = None,
                 is_bigendian: bool = False) -> dict:
    """The fields of a sensor_msgs/Image (all but the header) holding ``array``: the inverse of
    ``raw_to_array``. ``encoding`` defaults to ``encoding_of(array)``; ``step`` (row padding) and
    ``is_bigendian`` let tests and benchmarks build what some cameras send. ``data`` is a uint8 array,
    which rclpy messages and rosbags objects both take."""
    encoding = encoding or encoding_of(array)
    if encoding not in ENCODINGS:
        raise ValueError(f"cannot encode as {encoding!r}; supported: {', '.join(ENCODINGS)}")
    dtype, channels = ENCODINGS[encoding]
    h, w = array.shape[:2]
    row_bytes = w * channels * dtype.itemsize
    step = row_bytes if step is None else step
    if step < row_bytes:
        raise ValueError(f"step={step} < row size {row_bytes}")
    pixels = np.ascontiguousarray(array, dtype=dtype.newbyteorder(">" if is_bigendian else "<"))
    if step == row_bytes:
        data = pixels.reshape(-1).view(np.uint8)
    else:
        rows = np.zeros((h, step), dtype=np.uint8)
        rows[:, :row_bytes] = pixels.reshape(h, -1).view(np.uint8).reshape(h, row_bytes)
        data = rows.reshape(-1)
    return {"encoding": encoding, "height": h, "width": w, "step": step, "is_bigendian": int(is_bigendian),
            "data": data}


def compress_image(array: np.ndarray, rgb_order: str = "rgb", jpeg_quality: int = 90) -> tuple[str, np.ndarray]:
    """(format, data) of a sensor_msgs/CompressedImage holding ``array``, in image_transport's format string
    convention: 8-bit images as JPEG (``rgb8; jpeg compressed bgr8`` / ``mono8; jpeg compressed mono8``),
    16-bit thermal as lossless PNG (``mono16; png compressed mono16``: JPEG would drop the radiometry)."""
    encoding = encoding_of(array, rgb_order)
    if encoding == "32FC1":
        raise ValueError("float32 thermal images have no compressed transport; write them raw (--no-compress)")
    pixels = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if encoding == "rgb8" else array
    if encoding == "mono16":
        ok, buf = cv2.imencode(".png", pixels)
        fmt = "mono16; png compressed mono16"
    else:
        ok, buf = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        fmt = f"{encoding}; jpeg compressed {'bgr8' if encoding in ('rgb8', 'bgr8') else 'mono8'}"
    if not ok:
        raise ValueError(f"OpenCV could not compress an image of shape {array.shape} ({encoding})")
    return fmt, buf.reshape(-1)


# --------------------------------------------------------------------------------------------------
# Messages (any object with the fields of sensor_msgs/Image or CompressedImage: rclpy or rosbags)


def message_to_array(msg) -> tuple[np.ndarray, str]:
    """The pixels of an Image or CompressedImage message and the encoding they are in."""
    if hasattr(msg, "format"):  # CompressedImage
        return decode_compressed(msg.format, msg.data)
    return raw_to_array(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data), msg.encoding


def decode_rgb_message(msg, to_array=message_to_array) -> np.ndarray:
    """HxWx3 uint8 RGB from an RGB camera message (``to_array``: message -> (array, encoding))."""
    return as_rgb(*to_array(msg))


def decode_thermal_message(msg, to_array=message_to_array) -> np.ndarray:
    """HxW uint8 / uint16 / float32 from a thermal camera message; NaN / inf / constant is an error."""
    return as_thermal(*to_array(msg))


def thermal_as_rgb(thermal: np.ndarray) -> np.ndarray:
    """A thermal image as gray HxWx3 uint8 (8 bits kept, 16 bits' high byte, float min-max scaled)."""
    return as_rgb(thermal, encoding_of(thermal))
