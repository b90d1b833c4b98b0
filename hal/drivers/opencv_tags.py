"""Tag reader on any `Camera`: QR codes (and 1D barcodes on request), decoded by zxing-cpp first and
OpenCV when zxing-cpp finds nothing.

zxing-cpp reads a 640×480 frame in a few milliseconds (OpenCV's `QRCodeDetector` alone takes ~17 ms
here) and reads more of the simulator's wristbands and tube labels. When it finds nothing the OpenCV
chain runs as before: the plain frame, then an adaptively thresholded one (uneven lighting and
shading on linen defeat the detector's own binarisation), then OpenCV's ArUco-based QR detector,
and OpenCV's 1D barcode detector. A payload is only ever what a decoder returned: never a guess.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

from hal.camera import Camera
from hal.clock import Clock
from hal.device import DeviceError, DeviceHealth, HealthStatus
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from hal.tag_reader import TagRead, TagReader

SYMBOLOGIES = ("qr", "barcode")

_ZXING_FORMATS = {"qr": zxingcpp.BarcodeFormat.QRCode, "barcode": zxingcpp.BarcodeFormat.LinearCodes}
_ZXING_QR_NAMES = frozenset({"QRCode", "QRCodeModel1", "QRCodeModel2"})


def _gray(image_bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    if image_bgr.ndim == 2:
        return image_bgr
    return np.asarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def _qr_payloads(detector: cv2.QRCodeDetector, image: npt.NDArray[np.uint8]) -> list[str]:
    text = detector.detectAndDecode(image)[0]
    return [text] if text else []


def _linear_symbology(name: str) -> str:
    """'ean13', 'code128', ... from either decoder's name for it (zxing 'EAN13', OpenCV 'EAN_13')."""
    return name.replace("_", "").replace(" ", "").lower() or "barcode"


class TagDecoder:
    """Reusable decoders (creating OpenCV's per frame is wasteful)."""

    def __init__(self, symbologies: Sequence[str] = ("qr",)) -> None:
        unknown = set(symbologies) - set(SYMBOLOGIES)
        if unknown:
            raise ValueError(f"unknown symbologies {sorted(unknown)} (accepted: {', '.join(SYMBOLOGIES)})")
        self.symbologies = tuple(symbologies)
        self._zxing_formats = zxingcpp.BarcodeFormats([_ZXING_FORMATS[s] for s in self.symbologies])
        self._qr = cv2.QRCodeDetector()
        self._qr_aruco = cv2.QRCodeDetectorAruco()
        self._barcode = cv2.barcode.BarcodeDetector() if "barcode" in self.symbologies else None

    def decode(self, image_bgr: npt.NDArray[np.uint8]) -> list[tuple[str, str]]:
        """All payloads found, as (payload, symbology), de-duplicated, QR codes first."""
        gray = _gray(image_bgr)
        qr, linear = self._decode_zxing(gray)
        if "qr" in self.symbologies and not qr:
            qr = [(payload, "qr") for payload in self._decode_qr_opencv(image_bgr, gray)]
        if self._barcode is not None and not linear:
            linear = self._decode_barcode_opencv(image_bgr)
        return list(dict.fromkeys(qr + linear))

    def _decode_zxing(self, gray: npt.NDArray[np.uint8]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(QR codes, 1D barcodes) that zxing-cpp read, each checked by its own error detection.
        try_invert off: labels and wristbands are printed dark on light, and inverting doubles the
        time spent on every frame without a code."""
        qr: list[tuple[str, str]] = []
        linear: list[tuple[str, str]] = []
        for found in zxingcpp.read_barcodes(gray, formats=self._zxing_formats, try_invert=False):
            if not found.valid or not found.text:
                continue
            name = found.format.name
            if name in _ZXING_QR_NAMES:
                qr.append((found.text, "qr"))
            else:
                linear.append((found.text, _linear_symbology(name)))
        return qr, linear

    def _decode_qr_opencv(self, image_bgr: npt.NDArray[np.uint8], gray: npt.NDArray[np.uint8]) -> list[str]:
        payloads = _qr_payloads(self._qr, image_bgr)
        if payloads:
            return payloads
        binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, 31, 10)
        payloads = _qr_payloads(self._qr, np.asarray(binary, dtype=np.uint8))
        if payloads:
            return payloads
        text = self._qr_aruco.detectAndDecode(image_bgr)[0]
        return [text] if text else []

    def _decode_barcode_opencv(self, image_bgr: npt.NDArray[np.uint8]) -> list[tuple[str, str]]:
        assert self._barcode is not None
        ok, texts, types, _points = self._barcode.detectAndDecodeWithType(image_bgr)
        if not ok:
            return []
        return [(str(text), _linear_symbology(str(kind))) for text, kind in zip(texts, types, strict=False) if text]


def decode_tags(image_bgr: npt.NDArray[np.uint8], symbologies: Sequence[str] = ("qr",)) -> list[str]:
    """Payloads of every code the decoders can read in the image (empty when none)."""
    return [payload for payload, _ in TagDecoder(symbologies).decode(image_bgr)]


class CameraTagReader(TagReader):
    """`TagReader` over any `Camera`. Health turns WARNING after `warn_after_failures`
    consecutive unreadable frames, and follows the camera's health when that is unusable."""

    def __init__(
        self,
        name: str,
        clock: Clock,
        camera: Camera,
        *,
        symbologies: Sequence[str] = ("qr",),
        warn_after_failures: int = 5,
    ) -> None:
        super().__init__(name, clock)
        self.camera = camera
        self._decoder = TagDecoder(symbologies)
        self.warn_after_failures = warn_after_failures
        self.consecutive_failures = 0
        self._last_error: str | None = None

    def read_tag(self) -> TagRead:
        self._require_open()
        try:
            frame = self.camera.read()
        except DeviceError as exc:
            self._last_error = exc.reason
            self.consecutive_failures += 1
            raise
        self._last_error = None
        found = self._decoder.decode(frame.image_bgr)
        if not found:
            self.consecutive_failures += 1
            return TagRead(None, self._decoder.symbologies[0], frame.stamp_s)
        self.consecutive_failures = 0
        payload, symbology = found[0]
        return TagRead(payload, symbology, frame.stamp_s)

    def health(self) -> DeviceHealth:
        if not self.is_open:
            return self._health(HealthStatus.STALE, "not set up")
        camera_health = self.camera.health()
        if not camera_health.usable:
            return self._health(camera_health.status, f"camera {self.camera.name}: {camera_health.reason}")
        if self._last_error is not None:
            return self._health(HealthStatus.ERROR, f"camera read failed: {self._last_error}")
        if self.consecutive_failures >= self.warn_after_failures:
            return self._health(
                HealthStatus.WARNING, f"{self.consecutive_failures} consecutive frames without a readable tag"
            )
        return self._health(HealthStatus.OK)


class OpenCvTagReaderConfig(DeviceConfig):
    camera: str = "camera"  # device name of the camera, configured before this reader
    symbologies: tuple[str, ...] = ("qr",)
    warn_after_failures: int = 5


def _build(name: str, config: OpenCvTagReaderConfig, ctx: BuildContext) -> CameraTagReader:
    camera = ctx.device(config.camera, Camera)    # an isinstance check
    try:
        return CameraTagReader(
            name, ctx.clock, camera, symbologies=config.symbologies, warn_after_failures=config.warn_after_failures
        )
    except ValueError as exc:
        raise KeyError(str(exc)) from None


def register(registry: DeviceRegistry) -> None:
    registry.register("tag_reader", "opencv", OpenCvTagReaderConfig, _build)
