"""The corpus's reuse edits one at a time, each at a strong setting, for the forensics tests."""

import io

import numpy as np
from PIL import Image

from load_tests import photo_corpus as pc


def edited(data: bytes, edit: str, scene: int) -> bytes:
    """One edit at the strongest setting the corpus uses, applied the way it applies it."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = img.size
    if edit == "resize":
        img = img.resize((round(w * 0.4), round(h * 0.4)), Image.Resampling.LANCZOS)
    elif edit == "crop":
        img = img.crop((int(0.1 * w), int(0.1 * h), w - int(0.02 * w), h - int(0.03 * h)))
    elif edit == "tone":
        arr = (np.asarray(img, np.float32) - 128) * 1.15 + 128 + 20
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    elif edit == "rotate":  # 3°, cropped to the inner rectangle free of empty corners
        img = img.rotate(3.0, Image.Resampling.BICUBIC).crop((14, 18, w - 14, h - 18))
    elif edit == "stamp":
        img = pc._stamp(img, np.random.default_rng(scene))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=40 if edit == "recompress" else 85)
    return out.getvalue()
