"""Face detection for the ``local`` backend: MTCNN (P-Net, R-Net, O-Net) in ONNX Runtime, the rest in numpy.

The three networks ship in the ModelLayer (``photosort_model/mtcnn_*.onnx``, exported once from the weights in
the facenet-pytorch 2.6.0 wheel by ``local/tools/export_faces.py``; provenance in ``FACES_PROVENANCE.json``), with
``mtcnn_pnet_stride4.onnx``, P-Net whose window steps 4 pixels instead of 2 (the same weights; exactly every other
cell). The cascade follows facenet-pytorch's ``detect_face``: an image pyramid through the fully convolutional
P-Net, box regression and non-maximum suppression, then R-Net on 24x24 crops and O-Net on 48x48 crops. No torch,
no OpenCV.

The detector works on the image the classifier already decoded (a JPEG is DCT-scaled while decoding, so a 12 MP
photo arrives at about 500x375): faces smaller than ``MIN_FACE`` pixels of that image (about 6% of its shorter
side) are not looked for, P-Net keeps its 48 best proposals, and the crops for R-Net and O-Net are one numpy
gather of packed pixels. That bounds its time, and it matches what a family album needs: people who are a subject
of the photo, not passers-by in the distance. (A faster 32 px / 16 proposals lost a small face on the held-out
split: not taken.) For the budget of ``bench/faces.py`` (at most 30% of the classify of a 12 MP JPEG) the pyramid
is an octave (each level the last one halved), P-Net keeps cells at probability 0.95, and on the largest level it
steps 4 pixels; each was checked on the dev split of the development set (README: Development set). The export
rebuilds the graphs for ONNX Runtime's CPU kernels, and the sessions run on one thread: the networks are too small
to split.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from photosort.errors import BackendError, BackendUnavailableError
from photosort.models import Classification, Face, Label

if TYPE_CHECKING:
    from PIL.Image import Image

NETS = ("pnet", "pnet_stride4", "rnet", "onet")
MODEL_FAMILY = "mtcnn-facenet-pytorch-2.6.0"

MAX_SIDE = 640  # the detector's working resolution: longer side at most this many pixels
MIN_FACE = 24  # pixels at the working resolution (P-Net's 12 px cell scaled by 12 / MIN_FACE)
SCALE_FACTOR = 0.5  # pyramid step (MTCNN: 0.709): an octave, so every level is the last one halved (bench/faces.py)
STAGE_THRESHOLDS = (0.95, 0.7, 0.7)  # P-Net, R-Net, O-Net face probability (facenet-pytorch: 0.6, 0.7, 0.7)
MIN_CONFIDENCE = (
    0.97  # a face is reported at O-Net probability >= this (dev split: true faces >= 0.998, a macaque 0.94)
)
FIRST_LEVEL_STRIDE = 4  # P-Net's window steps 4 pixels on the largest level (smallest faces), 2 on the others
STRIP_CELLS = 32  # P-Net runs a large pyramid level in strips of this many cell rows (64 input rows + 10)
MAX_PROPOSALS = 48  # best P-Net boxes kept for R-Net (bounds the time on busy images)
MAX_LEVEL_CELLS = 256  # best P-Net boxes that go to NMS, per level and across levels (busy textures)
MAX_FACES = 50  # faces reported per photo, most confident first


@dataclass(frozen=True)
class DetectedFace:
    """A face box in pixels of the image passed to :meth:`FaceDetector.detect`, and O-Net's probability (0-1)."""

    left: float
    top: float
    right: float
    bottom: float
    probability: float


# ----------------------------------------------------------------------------------------------- process caches

_LOCK = threading.Lock()
_SESSIONS: dict[str, Any] = {}


def _sessions(threads: int) -> dict[str, Any]:
    if _SESSIONS:
        return _SESSIONS
    with _LOCK:
        if _SESSIONS:
            return _SESSIONS
        try:
            import photosort_model
        except ImportError as exc:  # pragma: no cover - the ModelLayer is missing from the function
            raise BackendUnavailableError("the photosort_model package (ModelLayer) is not installed") from exc
        import onnxruntime as ort

        sessions = {}
        for net in NETS:
            path = photosort_model.FACE_MODELS[net]
            if not path.is_file():
                raise BackendUnavailableError(f"face detector model file missing: {path}")
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3
            try:
                sessions[net] = ort.InferenceSession(
                    str(path), sess_options=options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:
                raise BackendUnavailableError(f"cannot load {path.name}: {exc}") from exc
        _SESSIONS.update(sessions)
        return _SESSIONS


# --------------------------------------------------------------------------------------------------- box maths


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, *, method: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first. Boxes are (n, 4) x1, y1, x2, y2.

    ``union`` compares intersection over union; ``min`` intersection over the smaller box (drops a box that
    lies mostly inside a better one). Areas use MTCNN's inclusive pixel convention (+1).
    """
    if boxes.shape[0] <= 1:
        return np.zeros(boxes.shape[0], dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (boxes[order, k] for k in range(4))
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    # All overlaps at once (the boxes per call are few: P-Net cells per level are capped), then the greedy pass.
    w = np.maximum(0.0, np.minimum(x2[:, None], x2[None, :]) - np.maximum(x1[:, None], x1[None, :]) + 1)
    h = np.maximum(0.0, np.minimum(y2[:, None], y2[None, :]) - np.maximum(y1[:, None], y1[None, :]) + 1)
    inter = w * h
    union = area[:, None] + area[None, :] - inter
    denom = np.minimum(area[:, None], area[None, :]) if method == "min" else union
    overlapping = inter / denom > threshold
    suppressed = np.zeros(order.size, dtype=bool)
    keep: list[int] = []
    for i in range(order.size):
        if suppressed[i]:
            continue
        keep.append(int(order[i]))
        suppressed |= overlapping[i]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Make boxes square around their centres (side = the longer side), as MTCNN's ``rerec``."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply R-Net/O-Net box regression (offsets in units of the inclusive box size), as MTCNN's ``bbreg``."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, 0] = boxes[:, 0] + reg[:, 0] * w
    out[:, 1] = boxes[:, 1] + reg[:, 1] * h
    out[:, 2] = boxes[:, 2] + reg[:, 2] * w
    out[:, 3] = boxes[:, 3] + reg[:, 3] * h
    return out


def _normalise(arr: np.ndarray) -> np.ndarray:
    """HWC uint8 (or NHWC) -> NCHW float32 scaled to about [-1, 1], as the networks were trained (one strided copy,
    then in place: four times faster than converting first and transposing after)."""
    batch = arr[np.newaxis] if arr.ndim == 3 else arr
    out = np.empty((batch.shape[0], batch.shape[3], batch.shape[1], batch.shape[2]), dtype=np.float32)
    np.copyto(out, batch.transpose(0, 3, 1, 2))
    out -= 127.5
    out *= 0.0078125
    return out


def _packed(img: Image) -> np.ndarray:
    """An RGB image as (h, w) uint32 with R, G, B in bytes 0, 1, 2 (byte 3 is padding): one gather fetches a whole
    pixel. Pillow's raw RGBX encoder packs it in one pass (40x faster than combining numpy channels)."""
    return np.frombuffer(img.tobytes("raw", "RGBX"), dtype="<u4").reshape(img.height, img.width)


_LOW = np.uint32(0x00FF00FF)  # two bytes of a packed pixel, each in a 16-bit lane with 8 spare bits above it
_ROUND = np.uint32(0x00020002)  # +2 in each lane, so that >> 2 rounds the sum of four samples to nearest


def _crops(packed: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Crop each box (clamped to the image, MTCNN's ``pad``) and resize it to size x size: the networks' input,
    (n, 3, size, size) float32 normalised as :func:`_normalise`; an empty box gives black.

    One gather for all boxes: each output pixel is the rounded mean of a 2x2 grid of samples inside its cell,
    close to an area resize at a fraction of the cost of one resize per box (R-Net sees up to ``MAX_PROPOSALS``).
    ``packed`` is :func:`_packed` of the image; the four samples are summed two channels at a time in 16-bit
    lanes of a uint32 (at most 4 x 255, so no lane overflows into the next).
    """
    h, w = packed.shape
    ints = np.trunc(boxes[:, :4]).astype(np.int64)
    left = np.maximum(ints[:, 0], 1) - 1
    top = np.maximum(ints[:, 1], 1) - 1
    right = np.minimum(ints[:, 2], w)
    bottom = np.minimum(ints[:, 3], h)
    empty = (right <= left) | (bottom <= top)
    right, bottom = np.maximum(right, left + 1), np.maximum(bottom, top + 1)
    steps = (np.arange(2 * size) + 0.5) / (2 * size)
    xs = np.clip((left[:, None] + steps * (right - left)[:, None]).astype(np.int64), 0, w - 1)
    ys = np.clip((top[:, None] + steps * (bottom - top)[:, None]).astype(np.int64), 0, h - 1)
    samples = packed.reshape(-1)[ys[:, :, None] * w + xs[:, None, :]]  # (n, 2 size, 2 size)
    out = np.empty((boxes.shape[0], 3, size, size), dtype=np.float32)
    red_blue = samples & _LOW  # R in bits 0-7, B in bits 16-23
    green = (samples >> np.uint32(8)) & _LOW  # G in bits 0-7 (the padding byte in bits 16-23 is not read)
    for lanes, planes in ((red_blue, ((0, 0), (2, 16))), (green, ((1, 0),))):
        total = lanes[:, 0::2, 0::2] + lanes[:, 1::2, 0::2] + lanes[:, 0::2, 1::2] + lanes[:, 1::2, 1::2]
        mean = (total + _ROUND) >> np.uint32(2)  # (sum + 2) // 4 in each lane
        for channel, bit in planes:
            out[:, channel] = (mean >> np.uint32(bit)) & np.uint32(0xFF)
    out -= 127.5
    out *= 0.0078125
    out[empty] = -127.5 * 0.0078125
    return out


def pyramid(img: Image, min_face: int) -> list[tuple[float, Image]]:
    """MTCNN's image pyramid: (scale, image) from ``12 / min_face`` down by :data:`SCALE_FACTOR` while the shorter
    side stays at least 12 pixels (P-Net's window).

    Every level whose scale is half that of an earlier one is that level halved by :meth:`Image.reduce` (a 2x2 box
    average, four times cheaper than a resize), so only the first two levels are resized from the image.
    """
    from PIL import Image as PILImage

    w, h = img.size
    scales: list[float] = []
    scale = 12.0 / min_face
    while min(w, h) * scale >= 12:
        scales.append(scale)
        scale *= SCALE_FACTOR
    halving = next((k for k in (1, 2) if abs(SCALE_FACTOR**k - 0.5) < 1e-9), 0)  # levels between two halvings
    levels: list[Image] = []
    for k, scale in enumerate(scales):
        if halving and k >= halving:
            levels.append(levels[k - halving].reduce(2))
        elif round(1.0 / scale, 9).is_integer():
            levels.append(img.reduce(round(1.0 / scale)))
        else:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            levels.append(img.resize(size, PILImage.Resampling.BOX))
    return list(zip(scales, levels, strict=True))


# ------------------------------------------------------------------------------------------------------ detector


class FaceDetector:
    """MTCNN face detector. Construction loads the three ONNX sessions once per process."""

    def __init__(
        self,
        *,
        threads: int = 1,
        max_side: int = MAX_SIDE,
        min_face: int = MIN_FACE,
        min_confidence: float = MIN_CONFIDENCE,
        thresholds: tuple[float, float, float] = STAGE_THRESHOLDS,
    ) -> None:
        self.max_side = max_side
        self.min_face = min_face
        self.min_confidence = min_confidence
        self.thresholds = thresholds
        sessions = _sessions(threads)
        self._pnet, self._pnet_stride4, self._rnet, self._onet = (sessions[n] for n in NETS)

    def _run(self, session: Any, batch: np.ndarray) -> list[np.ndarray]:
        try:
            return list(session.run(None, {"input": batch}))
        except Exception as exc:
            raise BackendError(f"face detector failed: {exc}") from exc

    def _pnet_cells(self, batch: np.ndarray, *, stride: int = 2) -> np.ndarray:
        """P-Net over one pyramid level, (1, 5, cells_y, cells_x), in horizontal strips of at most
        :data:`STRIP_CELLS` cell rows: each strip's tensors stay in the CPU's cache (10% faster on the largest level).

        ``stride`` 2 is P-Net's own cell step; 4 runs ``mtcnn_pnet_stride4.onnx``, whose cells are every other cell of
        P-Net's (cell (x, y) is P-Net's (2x, 2y)). Exact: a cell sees only its 12x12 window, so strips whose inputs
        start on a multiple of the stride and overlap by 12 - stride rows give exactly the cells of one run."""
        session = self._pnet if stride == 2 else self._pnet_stride4
        rows = -(-(batch.shape[2] - 2) // 2) - 4  # P-Net's cell rows (3x3 conv, ceil-mode 2x2 pool, two 3x3 convs)
        if stride == 4:
            rows = -(-rows // 2)
        if rows <= STRIP_CELLS * 3 // 2:
            (out,) = self._run(session, batch)
            return out
        count = -(-rows // STRIP_CELLS)
        step = -(-rows // count)
        window = 12 - stride
        parts = [
            self._run(session, batch[:, :, stride * top : stride * (top + step) + window])[0]
            for top in range(0, rows, step)
        ]
        return np.concatenate(parts, axis=2)

    def _proposals(self, img: Image) -> np.ndarray:
        """Stage 1: P-Net over the pyramid. Rows are x1, y1, x2, y2, score (squared, regressed)."""
        logit = float(np.log(self.thresholds[0] / (1.0 - self.thresholds[0])))  # sigmoid(x) >= t  <=>  x >= logit
        cells: list[np.ndarray] = []  # per level: x, y, level scale, level index, logit, 4 offsets
        for index, (scale, level) in enumerate(pyramid(img, self.min_face)):
            step = 2 if index else FIRST_LEVEL_STRIDE  # cell step in the level's pixels
            out = self._pnet_cells(_normalise(np.asarray(level, dtype=np.uint8)), stride=step)
            ys, xs = np.nonzero(out[0, 0] >= logit)
            if ys.size > MAX_LEVEL_CELLS:  # a busy texture: NMS on the best cells only
                best = np.argpartition(-out[0, 0, ys, xs], MAX_LEVEL_CELLS)[:MAX_LEVEL_CELLS]
                ys, xs = ys[best], xs[best]
            if ys.size:
                level_cells = np.empty((ys.size, 9), dtype=np.float32)
                level_cells[:, 4:] = out[0, :, ys, xs]
                ys, xs = ys * (step // 2), xs * (step // 2)  # as P-Net's own cells
                level_cells[:, 0], level_cells[:, 1], level_cells[:, 2], level_cells[:, 3] = xs, ys, scale, index
                cells.append(level_cells)
        if not cells:
            return np.zeros((0, 5), dtype=np.float32)
        found = np.concatenate(cells)
        scales = found[:, 2:3]
        boxes = np.empty((found.shape[0], 9), dtype=np.float32)
        boxes[:, 0:2] = np.floor((2 * found[:, 0:2] + 1) / scales)
        boxes[:, 2:4] = np.floor((2 * found[:, 0:2] + 12) / scales)
        boxes[:, 4] = 1.0 / (1.0 + np.exp(-found[:, 4]))
        boxes[:, 5:] = found[:, 5:]
        # NMS within each level, all levels in one call: each level's boxes are moved 100,000 pixels apart from the
        # others' (exact: the corners are whole pixels), so only boxes of the same level can overlap
        apart = boxes[:, :4] + (found[:, 3:4] * 100_000.0)
        boxes = boxes[nms(apart, boxes[:, 4], 0.5)]
        if boxes.shape[0] > MAX_LEVEL_CELLS:  # across levels too, NMS on the best boxes only
            boxes = boxes[np.argpartition(-boxes[:, 4], MAX_LEVEL_CELLS)[:MAX_LEVEL_CELLS]]
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)][:MAX_PROPOSALS]
        bw = boxes[:, 2] - boxes[:, 0]
        bh = boxes[:, 3] - boxes[:, 1]
        refined = np.stack(
            [
                boxes[:, 0] + boxes[:, 5] * bw,
                boxes[:, 1] + boxes[:, 6] * bh,
                boxes[:, 2] + boxes[:, 7] * bw,
                boxes[:, 3] + boxes[:, 8] * bh,
                boxes[:, 4],
            ],
            axis=1,
        )
        return _square(refined)

    def detect(self, img: Image) -> list[DetectedFace]:
        """Faces in an upright RGB image, most confident first, boxes in that image's pixels."""
        from PIL import Image as PILImage

        w0, h0 = img.size
        ratio = 1.0
        if max(w0, h0) > self.max_side:
            ratio = max(w0, h0) / self.max_side
            img = img.resize((max(1, round(w0 / ratio)), max(1, round(h0 / ratio))), PILImage.Resampling.BOX)
        if min(img.size) < self.min_face:
            return []
        boxes = self._proposals(img)
        if boxes.shape[0] == 0:
            return []
        packed = _packed(img)

        # Stage 2: R-Net on 24x24 crops.
        reg, prob = self._run(self._rnet, _crops(packed, boxes, 24))
        keep = prob[:, 1] > self.thresholds[1]
        boxes = np.concatenate([boxes[keep, :4], prob[keep, 1:2]], axis=1)
        reg = reg[keep]
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
        boxes = _square(_regress(boxes[pick], reg[pick]))
        if boxes.shape[0] == 0:
            return []

        # Stage 3: O-Net on 48x48 crops.
        reg, _landmarks, prob = self._run(self._onet, _crops(packed, boxes, 48))
        keep = prob[:, 1] > self.thresholds[2]
        boxes = np.concatenate([boxes[keep, :4], prob[keep, 1:2]], axis=1)
        boxes = _regress(boxes, reg[keep])
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7, method="min")]
        boxes = boxes[boxes[:, 4] >= self.min_confidence][:MAX_FACES]

        faces = []
        for x1, y1, x2, y2, p in boxes:
            left, top = max(0.0, float(x1) * ratio), max(0.0, float(y1) * ratio)
            right, bottom = min(float(w0), float(x2) * ratio), min(float(h0), float(y2) * ratio)
            if right > left and bottom > top:
                faces.append(DetectedFace(left, top, right, bottom, float(p)))
        return faces


# ------------------------------------------------------------------------------------------------------- labels

PERSON_CATEGORY = "Person Description"  # Rekognition's category for Person/Face, so one rule fits both backends


def to_faces(found: list[DetectedFace], size: tuple[int, int]) -> tuple[Face, ...]:
    """Detector boxes (pixels of an image of ``size``) -> :class:`~photosort.models.Face` records (fractions)."""
    w, h = size
    return tuple(
        Face(
            left=round(f.left / w, 4),
            top=round(f.top / h, 4),
            width=round(min(1.0, (f.right - f.left) / w), 4),
            height=round(min(1.0, (f.bottom - f.top) / h), 4),
            confidence=round(f.probability * 100.0, 2),
        )
        for f in found
    )


def person_labels(faces: tuple[Face, ...]) -> tuple[Label, ...]:
    """``Person`` and ``Face`` labels, as confident as the most confident face; none without a face."""
    if not faces:
        return ()
    best = max(f.confidence for f in faces)
    return (
        Label(name="Person", confidence=best, categories=(PERSON_CATEGORY,)),
        Label(name="Face", confidence=best, parents=("Person",), categories=(PERSON_CATEGORY,)),
    )


def with_faces(classification: Classification, faces: tuple[Face, ...], *, max_labels: int) -> Classification:
    """The classification with the face records and the person labels merged in (by confidence)."""
    extra = person_labels(faces)
    names = {label.name.casefold() for label in extra}
    merged = sorted(
        (*extra, *(label for label in classification.labels if label.name.casefold() not in names)),
        key=lambda label: -label.confidence,
    )
    return classification.model_copy(update={"labels": tuple(merged[:max_labels]), "faces": faces})
