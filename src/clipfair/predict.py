"""``clipfair predict``: photos -> faces (MTCNN) -> age, gender and race with probabilities.

Faces are found with facenet-pytorch's MTCNN (it ships its weights) and cropped the way the
FairFace release was (dlib face chips with padding 0.25): a square around the detected box,
``padding`` of its side added on every side. Images that already are face crops (FairFace's
own, the demo's) skip detection with ``detect=False``. Every file gets a result: one row per
face, or one row saying why there is none (no face, unreadable); the rest are still processed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from clipfair.labels import VOCAB
from clipfair.models.backbone import Backbone
from clipfair.models.finetune import VisionClassifier, predict_scores

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


@dataclass
class FaceResult:
    """One row of ``predict``: a face of a file, or why the file has none."""

    file: str
    status: str  # ok | no_face | error
    face: int | None = None
    faces_in_file: int = 0
    box: list[float] | None = None
    detection_prob: float | None = None
    message: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    probabilities: dict[str, dict[str, float]] = field(default_factory=dict)


def expand_inputs(paths: list[str | Path]) -> list[Path]:
    """Files as given, and the image files of folders (sorted); a missing path or a folder
    without images is kept (it gets an error row)."""
    out: list[Path] = []
    for p in map(Path, paths):
        images = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        out += images if p.is_dir() and images else [p]
    return out


def _unreadable(path: Path) -> str | None:
    """Why ``path`` cannot be an image file, or None."""
    if path.is_dir():
        kinds = ", ".join(sorted(IMAGE_SUFFIXES))
        return f"no images found in folder {path} (looked for {kinds}, in subfolders too)"
    if not path.exists():
        return f"cannot read image: {path} does not exist"
    return None


def square_crop(image: Image.Image, box: np.ndarray, padding: float) -> Image.Image:
    """The square around ``box`` (x1, y1, x2, y2) with ``padding`` x side added on each side."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * (1 + 2 * padding)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    # outside the picture is filled black, as dlib's chips are
    return image.crop(
        (round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2))
    )


class Predictor:
    """A fine-tuned model plus (optionally) a face detector."""

    def __init__(
        self,
        model: VisionClassifier,
        backbone: Backbone,
        detect: bool = True,
        padding: float = 0.25,
        min_face_prob: float = 0.9,
    ) -> None:
        self.model, self.backbone = model, backbone
        self.padding, self.min_face_prob = padding, min_face_prob
        self.detector = None
        if detect:
            from facenet_pytorch import MTCNN

            self.detector = MTCNN(keep_all=True, device=backbone.device)

    def faces(
        self, image: Image.Image
    ) -> list[tuple[list[float] | None, float | None, Image.Image]]:
        """(box, probability, crop) of every face; the whole image when not detecting."""
        if self.detector is None:
            return [(None, None, image)]
        boxes, probs = self.detector.detect(image)
        if boxes is None:
            return []
        keep = [(b, p) for b, p in zip(boxes, probs, strict=True) if p >= self.min_face_prob]
        return [
            ([round(float(v), 1) for v in b], float(p), square_crop(image, b, self.padding))
            for b, p in keep
        ]

    def classify(self, crops: list[Image.Image]) -> list[dict[str, dict[str, float]]]:
        """Probabilities per task (canonical label order) for each crop."""
        out: list[dict[str, dict[str, float]]] = []
        for crop in crops:  # one at a time: crops differ in size; preprocess resizes each
            scores = predict_scores(
                self.model, self.backbone, np.asarray(crop.convert("RGB"))[None]
            )
            out.append(
                {t: dict(zip(VOCAB[t], map(float, s[0]), strict=True)) for t, s in scores.items()}
            )
        return out

    def predict_file(self, path: Path) -> list[FaceResult]:
        """Every face of one file, or one row saying why there is none (a file that cannot
        be read or predicted is an error row; the other files go on)."""
        reason = _unreadable(path)
        if reason:
            return [FaceResult(str(path), "error", message=reason)]
        try:
            with Image.open(path) as im:
                image = im.convert("RGB")
        except Image.DecompressionBombError as exc:
            return [FaceResult(str(path), "error", message=f"refused, too large: {exc}")]
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
            return [FaceResult(str(path), "error", message=f"cannot read image: {exc}")]
        try:
            return self._predict_image(path, image)
        except (RuntimeError, ValueError) as exc:  # e.g. a degenerate size the model rejects
            return [FaceResult(str(path), "error", message=f"prediction failed: {exc}")]

    def _predict_image(self, path: Path, image: Image.Image) -> list[FaceResult]:
        found = self.faces(image)
        if not found:
            return [FaceResult(str(path), "no_face", message="no face found")]
        results = []
        for i, ((box, prob, _), probs) in enumerate(
            zip(found, self.classify([c for _, _, c in found]), strict=True)
        ):
            results.append(
                FaceResult(
                    str(path),
                    "ok",
                    face=i,
                    faces_in_file=len(found),
                    box=box,
                    detection_prob=prob,
                    message="several faces" if len(found) > 1 else "",
                    labels={t: max(p, key=p.get) for t, p in probs.items()},
                    probabilities=probs,
                )
            )
        return results

    def predict(self, paths: list[str | Path]) -> list[FaceResult]:
        """All results for files and folders, in input order."""
        return [r for p in expand_inputs(paths) for r in self.predict_file(p)]


def as_records(results: list[FaceResult]) -> list[dict[str, Any]]:
    """JSON-ready dicts."""
    return [asdict(r) for r in results]


def render_predictions(results: list[FaceResult]) -> None:
    """A console table: one row per face (or per file without one)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="predictions")
    for col in ("file", "face", "gender", "age", "race", "note"):
        table.add_column(col)
    for r in results:
        cells = []
        for task in ("gender", "age", "race"):
            label = r.labels.get(task)
            cells.append(f"{label} ({r.probabilities[task][label]:.2f})" if label else "")
        face = "" if r.face is None else f"{r.face + 1}/{r.faces_in_file}"
        note = r.message if r.status != "ok" else (r.message or "")
        table.add_row(r.file, face, *cells, note)
    Console(width=200).print(table)
