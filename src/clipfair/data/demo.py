"""Deterministic synthetic release in exactly FairFace's format (zip of JPEGs + label CSVs).

Attributes are drawn into each picture with noise and overlap, so they are learnable but not
trivial: gender is the hair silhouette (large, as a contrastive model needs), race the skin
tone, age the hair colour, face size and wrinkles. A known share of faces (``ambiguous``) is
drawn with a gender-neutral silhouette (middle-length hair, no beard): on those the gender
cue is weak, so zero-shot rules that read the same prompts differently (mean, top-k, the
probability sum, averaged embeddings) disagree, and tests can tell them apart.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from clipfair.data.layout import CSV_HEADER, IMAGES_ZIP, label_csv
from clipfair.io import atomic_path
from clipfair.labels import AGES, GENDERS, RACES

AGE_WEIGHTS = np.array([0.04, 0.10, 0.10, 0.25, 0.20, 0.13, 0.10, 0.05, 0.03])
SKIN_RGB = {
    "White": (232, 200, 178),
    "Black": (92, 62, 46),
    "Latino_Hispanic": (192, 142, 104),
    "East Asian": (236, 212, 160),
    "Southeast Asian": (176, 138, 88),
    "Indian": (148, 100, 70),
    "Middle Eastern": (204, 164, 124),
}
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


def draw_face(
    rng: np.random.Generator, age: int, gender: int, race: int, size: int, ambiguous: bool = False
) -> Image.Image:
    """Draw one face whose look depends on the canonical codes (with noise); an ``ambiguous``
    face has middle-length hair whatever its gender, and no beard."""
    s = size
    bg = tuple(int(v) for v in rng.integers(0, 256, 3))
    img = Image.new("RGB", (s, s), bg)
    d = ImageDraw.Draw(img)
    cx = s * (0.5 + rng.normal(0, 0.04))
    cy = s * (0.48 + rng.normal(0, 0.04))
    r = s * (0.20 + 0.015 * min(age, 4) + rng.normal(0, 0.012))
    grey = np.clip(45 + age * 22 + rng.normal(0, 18), 0, 255)
    hair = tuple(int(np.clip(grey * f + rng.normal(0, 6), 0, 255)) for f in (1.0, 0.85, 0.7))
    female = GENDERS[gender] == "Female"
    mean_length = 0.5 + (0.08 if female else -0.08) if ambiguous else (0.85 if female else 0.15)
    length = np.clip(rng.normal(mean_length, 0.17), 0.0, 1.0)
    # Hair: a cap on top for everyone; long hair falls behind the face to the shoulders.
    d.ellipse([cx - 1.25 * r, cy - 1.35 * r, cx + 1.25 * r, cy + 0.4 * r], fill=hair)
    if length > 0.35:
        bottom = cy + r * (0.4 + 2.6 * length)
        d.rectangle([cx - 1.3 * r, cy - 0.5 * r, cx + 1.3 * r, bottom], fill=hair)
    skin = tuple(int(np.clip(c + rng.normal(0, 14), 0, 255)) for c in SKIN_RGB[RACES[race]])
    d.ellipse([cx - 0.85 * r, cy - r, cx + 0.85 * r, cy + 1.1 * r], fill=skin)
    eye = max(1.0, r * 0.12)
    for dx in (-0.35, 0.35):
        d.ellipse([cx + dx * r - eye, cy - eye, cx + dx * r + eye, cy + eye], fill=(20, 20, 20))
    d.line([cx - 0.3 * r, cy + 0.55 * r, cx + 0.3 * r, cy + 0.55 * r], fill=(120, 40, 40), width=2)
    if not female and not ambiguous and age >= 3 and rng.random() < 0.8:  # beard, hair colour
        d.chord([cx - 0.85 * r, cy - 0.2 * r, cx + 0.85 * r, cy + 1.1 * r], 20, 160, fill=hair)
        d.line(
            [cx - 0.3 * r, cy + 0.55 * r, cx + 0.3 * r, cy + 0.55 * r], fill=(120, 40, 40), width=2
        )
    for i in range(max(0, age - 4)):
        y = cy - 0.55 * r + i * 0.12 * r
        d.line([cx - 0.4 * r, y, cx + 0.4 * r, y], fill=tuple(int(c * 0.7) for c in skin), width=1)
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, 10, (s, s, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def with_margin(face: Image.Image, padding: str, seed: list[int]) -> Image.Image:
    """The face as FairFace's crop of margin ``padding`` shows it: at 1.25 the crop spans
    1 + 2 x 1.25 face widths instead of 1 + 2 x 0.25, so the same face fills 1.5 / 3.5 of the
    picture, surrounded by (noisy) background. Its own RNG: both crops of a release draw the
    same faces."""
    if padding == "0.25":
        return face
    size = face.size[0]
    inner = max(8, round(size * (1 + 2 * 0.25) / (1 + 2 * float(padding))))
    rng = np.random.default_rng(seed)
    corner = np.asarray(face, dtype=np.float32)[:4, :4].reshape(-1, 3).mean(axis=0)
    canvas = corner + rng.normal(0, 24, (size, size, 3))
    out = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    at = (size - inner) // 2
    out.paste(face.resize((inner, inner), Image.Resampling.BILINEAR), (at, at))
    return out


def sample_labels(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) canonical codes (age, gender, race); the first rows cover every class."""
    ages = rng.choice(len(AGES), size=n, p=AGE_WEIGHTS / AGE_WEIGHTS.sum())
    genders = rng.choice(len(GENDERS), size=n, p=[0.53, 0.47])
    races = rng.integers(0, len(RACES), size=n)
    k = min(n, len(AGES) * len(RACES) * len(GENDERS))
    idx = np.arange(k)
    ages[:k], genders[:k], races[:k] = idx % len(AGES), idx % len(GENDERS), idx % len(RACES)
    return np.stack([ages, genders, races], axis=1)


def write_demo_release(
    out_dir: str | Path,
    n_train: int,
    n_val: int,
    image_size: int = 64,
    seed: int = 0,
    ambiguous: float = 0.0,
    padding: str = "0.25",
) -> dict[str, int]:
    """Write images.zip and the two label CSVs into ``out_dir``; return counts per split.

    ``ambiguous``: the share of faces drawn with a gender-neutral silhouette; ``padding``:
    FairFace's crop (the same faces, files and labels for either, :func:`with_margin`)."""
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    counts = {"train": n_train, "val": n_val}
    rows: dict[str, list[tuple[str, ...]]] = {}
    with (
        atomic_path(out_dir / IMAGES_ZIP) as tmp_zip,
        zipfile.ZipFile(tmp_zip, "w", compression=zipfile.ZIP_STORED) as zf,
    ):
        for split, n in counts.items():
            labels = sample_labels(rng, n)
            rows[split] = []
            for i, (age, gender, race) in enumerate(labels, start=1):
                name = f"{split}/{i}.jpg"
                buf = io.BytesIO()
                weak = bool(rng.random() < ambiguous)
                face = draw_face(rng, age, gender, race, image_size, weak)
                face = with_margin(face, padding, [seed, int(split == "val"), i])
                face.save(buf, "JPEG", quality=90)
                zf.writestr(zipfile.ZipInfo(name, date_time=ZIP_DATE), buf.getvalue())
                service = "True" if rng.random() < 0.5 else "False"
                rows[split].append((name, AGES[age], GENDERS[gender], RACES[race], service))
    write_label_csvs(out_dir, rows)
    return counts


def write_label_csvs(out_dir: Path, rows: dict[str, list[tuple[str, ...]]]) -> None:
    """``fairface_label_<split>.csv`` with the release's header, one file per split, atomically."""
    for split, split_rows in rows.items():
        with atomic_path(out_dir / label_csv(split)) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(CSV_HEADER)
            writer.writerows(split_rows)
