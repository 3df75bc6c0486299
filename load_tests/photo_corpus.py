"""A photo-like synthetic corpus for the evidence photo forensics, deterministic from a seed.

Every scene is an elevator machine room drawn from one family (the same palette and the same
composition templates with jittered parts), so different scenes look alike the way two
contractors' photos of two machine rooms do. A scene is drawn once on a "world" canvas larger
than the photo; a photo is a camera looking at that world through a homography, with its own
sensor noise and JPEG. From each scene come:

- the **original** (what the index holds);
- **reuses**: the original file itself edited by a random combination of resize (0.4–1.5×),
  JPEG quality 40–95, crop up to 10% per edge, brightness/contrast ±20%, rotation ±3° (cropped
  to the rotated frame's inner rectangle, as an editor would) and a new time-and-place stamp,
  sometimes on a semi-transparent band. These must match the original;
- **second shots**: the same world through a moved camera (shifted 8–20% of the frame along
  at least one axis, zoom 0.9–1.1, a slight perspective change, new noise). Not reuse: these
  must not match.

This machine has no CJK font (``fc-list`` lists DejaVu only), so a stamp's place text is its
pinyin in DejaVu Sans followed by blocky pseudo-glyphs (strokes drawn as rectangles in a glyph
cell), which occupy the corner the way 湖南省株洲市… would.

``write_corpus`` lays a corpus out for ``python -m services.evidence match``: an index folder
(originals), a query folder (reuses, second shots, and originals of scenes never indexed) and
a truth file, one JSON line per query: ``{"query", "match", "kind"}``.
"""

from __future__ import annotations

import io
import json
import math
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FRAME = (640, 480)  # the original photo's size; portrait scenes swap it
WORLD_MARGIN = 1.5  # the world canvas is this much larger than the frame in each direction
FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
PLACES = (
    "Hunan Zhuzhou Tianyuan",
    "Hunan Zhuzhou Lusong",
    "Hunan Zhuzhou Hetang",
    "Hunan Changsha Yuelu",
    "Hunan Xiangtan Yuhu",
)
# Walls, floors and machine paint of machine rooms: greys, beige, faded green and blue.
WALLS = ((178, 176, 168), (196, 190, 172), (160, 168, 160), (150, 158, 170), (188, 184, 180))
FLOORS = ((96, 96, 92), (120, 110, 96), (84, 92, 88), (110, 110, 112))
PAINTS = ((52, 84, 132), (48, 104, 72), (128, 128, 124), (150, 60, 44), (70, 70, 78))

Kind = str  # "reuse" | "second_shot" | "unrelated"


@dataclass(frozen=True)
class Photo:
    """One generated photo: its file name, its JPEG bytes, and what it is."""

    name: str
    data: bytes
    kind: Kind  # "original", "reuse", "second_shot" or "unrelated"
    scene: int
    edits: tuple[str, ...] = ()  # the reuse edits applied, for reports


def _shaded_box(
    size: tuple[int, int], color: tuple[int, int, int], rng: np.random.Generator
) -> Image.Image:
    """A lit box face: a linear light falloff across it, a darker rim and brushed-metal grain."""
    w, h = size
    angle = rng.uniform(0, 2 * math.pi)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (np.cos(angle) * x / max(w, 1) + np.sin(angle) * y / max(h, 1)) * rng.uniform(0.2, 0.5)
    grain = rng.normal(0, 1, (h, 1 + w // 6)).astype(np.float32)
    grain = np.repeat(grain, 6, axis=1)[:, :w] * rng.uniform(2, 7)  # brushed along x
    light = 0.8 + ramp - ramp.mean()
    rgb = np.asarray(color, np.float32)[None, None, :] * light[..., None] + grain[..., None]
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def _cylinder(size: tuple[int, int], color: tuple[int, int, int], vertical: bool) -> Image.Image:
    """A lit cylinder seen side-on: a cosine shading profile across its axis."""
    w, h = size
    n = w if vertical else h
    t = np.linspace(-1.0, 1.0, n, dtype=np.float32)
    profile = 0.45 + 0.75 * np.sqrt(np.clip(1 - (t - 0.3) ** 2, 0, 1))
    shade = profile[None, :] if vertical else profile[:, None]
    shade = np.broadcast_to(shade, (h, w))
    rgb = np.asarray(color, np.float32)[None, None, :] * shade[..., None]
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def _wall(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """Wall and floor: a vertical gradient, a floor below a horizon, blotchy low-frequency dirt."""
    w, h = size
    wall = np.asarray(WALLS[rng.integers(len(WALLS))], np.float32)
    floor = np.asarray(FLOORS[rng.integers(len(FLOORS))], np.float32)
    horizon = int(h * rng.uniform(0.58, 0.74))
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = np.empty((h, w, 3), np.float32)
    img[:] = wall * (0.85 + 0.25 * y)
    img[horizon:] = floor * (0.8 + 0.3 * y[horizon:])
    dirt = rng.normal(0, 1, (h // 32 + 2, w // 32 + 2)).astype(np.float32)
    dirt_img = Image.fromarray(dirt).resize((w, h), Image.Resampling.BICUBIC)
    img += np.asarray(dirt_img)[..., None] * rng.uniform(4, 10)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def render_world(scene: int, seed: int) -> Image.Image:
    """The world canvas of scene ``scene``: a machine room with one of three compositions.

    Compositions (machine left or right, cabinet opposite, ropes up from the sheave) and the
    palette are shared by all scenes; positions, sizes, colours and details are drawn per scene.
    """
    rng = np.random.default_rng([seed, scene, 1])
    portrait = rng.random() < 0.2
    fw, fh = (FRAME[1], FRAME[0]) if portrait else FRAME
    w, h = int(fw * WORLD_MARGIN), int(fh * WORLD_MARGIN)
    img = _wall((w, h), rng)
    draw = ImageDraw.Draw(img)
    layout = int(rng.integers(3))
    mirror = rng.random() < 0.5

    def x_at(frac: float) -> int:
        return int(w * (1 - frac if mirror else frac))

    # Controller cabinet, opposite the machine.
    cab_w, cab_h = int(w * rng.uniform(0.14, 0.24)), int(h * rng.uniform(0.3, 0.48))
    cab_x = x_at(rng.uniform(0.62, 0.78)) - cab_w // 2
    cab_y = int(h * rng.uniform(0.62, 0.72)) - cab_h
    cab_color = PAINTS[rng.integers(len(PAINTS))]
    img.paste(_shaded_box((cab_w, cab_h), cab_color, rng), (cab_x, cab_y))
    draw.rectangle((cab_x, cab_y, cab_x + cab_w, cab_y + cab_h), outline=(30, 30, 30), width=3)
    draw.line(
        (cab_x + cab_w // 2, cab_y + 8, cab_x + cab_w // 2, cab_y + cab_h - 8),
        fill=(35, 35, 35),
        width=2,
    )
    for _ in range(int(rng.integers(2, 6))):  # indicators and labels
        lx = cab_x + int(rng.uniform(0.1, 0.7) * cab_w)
        ly = cab_y + int(rng.uniform(0.08, 0.5) * cab_h)
        light = tuple(int(c) for c in rng.integers(150, 256, 3))
        draw.rectangle(
            (lx, ly, lx + int(rng.integers(6, 24)), ly + int(rng.integers(4, 14))), fill=light
        )

    # Machine base plate with bolts.
    base_w, base_h = int(w * rng.uniform(0.3, 0.45)), int(h * rng.uniform(0.05, 0.09))
    base_x = x_at(rng.uniform(0.22, 0.4)) - base_w // 2
    base_y = int(h * rng.uniform(0.6, 0.72))
    img.paste(_shaded_box((base_w, base_h), (90, 90, 92), rng), (base_x, base_y))
    for i in range(int(rng.integers(4, 9))):
        bx = base_x + int((i + 0.5) * base_w / 8)
        by = base_y + base_h // 2
        r = int(rng.integers(4, 8))
        draw.ellipse((bx - r, by - r, bx + r, by + r), fill=(60, 60, 62), outline=(200, 200, 200))

    # Motor (a horizontal cylinder) and sheave (concentric grooved disc).
    paint = PAINTS[rng.integers(len(PAINTS))]
    mot_w, mot_h = int(base_w * rng.uniform(0.45, 0.65)), int(h * rng.uniform(0.12, 0.2))
    mot_x, mot_y = base_x + int(base_w * 0.05), base_y - mot_h
    img.paste(_cylinder((mot_w, mot_h), paint, vertical=False), (mot_x, mot_y))
    draw.ellipse(
        (mot_x - mot_h // 6, mot_y, mot_x + mot_h // 6, mot_y + mot_h),
        fill=tuple(int(c * 0.6) for c in paint),
    )
    sheave_r = int(h * rng.uniform(0.07, 0.13))
    sx = mot_x + mot_w + sheave_r + int(rng.integers(4, 30))
    sy = base_y - sheave_r - int(rng.integers(0, 12))
    for k in range(6):
        rr = sheave_r - k * sheave_r // 7
        tone = 70 + 25 * (k % 2) + int(rng.integers(0, 20))
        draw.ellipse((sx - rr, sy - rr, sx + rr, sy + rr), fill=(tone, tone, tone + 4))

    # Ropes: a bundle of parallel lines leaving the sheave upwards (straight or slanted).
    ropes = int(rng.integers(4, 9))
    slant = [0.0, rng.uniform(-0.25, 0.25), rng.uniform(0.1, 0.35)][layout]
    for i in range(ropes):
        offset = (i - ropes / 2) * rng.uniform(4.5, 6.5)
        x0 = sx - sheave_r // 2 + offset
        tone = int(rng.integers(40, 90))
        draw.line((x0, sy, x0 + slant * sy, 0), fill=(tone, tone, tone), width=3)
        draw.line((x0 + 1, sy, x0 + 1 + slant * sy, 0), fill=(tone + 70,) * 3, width=1)

    # Pipes or cable trays across the wall, and a vertical guard or ladder in one layout.
    for _ in range(int(rng.integers(1, 4))):
        py = int(h * rng.uniform(0.08, 0.4))
        thick = int(rng.integers(6, 18))
        pipe = _cylinder((w, thick), PAINTS[rng.integers(len(PAINTS))], vertical=False)
        img.paste(pipe, (0, py))
    if layout == 2:
        gx = x_at(rng.uniform(0.45, 0.55))
        for k in range(int(rng.integers(3, 7))):
            draw.line(
                (gx + 14 * k, int(h * 0.2), gx + 14 * k, base_y + base_h),
                fill=(200, 170, 40),
                width=4,
            )
    return img


def _homography(src: np.ndarray, dst: np.ndarray) -> tuple[float, ...]:
    """PIL's PERSPECTIVE coefficients mapping output points ``dst`` to input points ``src``."""
    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    coeffs = np.linalg.solve(np.asarray(rows, np.float64), src.reshape(-1).astype(np.float64))
    return tuple(float(c) for c in coeffs)


def _shoot(
    world: Image.Image,
    rng: np.random.Generator,
    *,
    shift: tuple[float, float] = (0.0, 0.0),
    zoom: float = 1.0,
    tilt: float = 0.0,
    quality: int = 90,
) -> bytes:
    """A photo of ``world``: the frame-sized window at its centre, moved by ``shift`` (fractions
    of the frame), zoomed, its corners jittered by up to ``tilt`` of the frame (perspective),
    with fresh sensor noise and JPEG at ``quality``."""
    ww, wh = world.size
    fw, fh = round(ww / WORLD_MARGIN), round(wh / WORLD_MARGIN)
    cw, ch = fw / zoom, fh / zoom
    cx, cy = ww / 2 + shift[0] * fw, wh / 2 + shift[1] * fh
    corners = np.array(
        [
            [cx - cw / 2, cy - ch / 2],
            [cx + cw / 2, cy - ch / 2],
            [cx + cw / 2, cy + ch / 2],
            [cx - cw / 2, cy + ch / 2],
        ]
    )
    corners += rng.uniform(-tilt, tilt, (4, 2)) * np.array([fw, fh])
    out = np.array([[0, 0], [fw, 0], [fw, fh], [0, fh]], np.float64)
    coeffs = _homography(corners, out)
    # Bilinear resampling doubles as the lens's softness (and is twice as fast as bicubic).
    photo = world.transform(
        (fw, fh), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR
    )
    noise = rng.standard_normal((fh, fw, 1), dtype=np.float32) * rng.uniform(2, 6)
    noisy = np.asarray(photo, np.float32) + noise
    return _jpeg(Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)), quality)


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    img.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def original(world: Image.Image, scene: int, seed: int) -> bytes:
    """The scene's original photo: the camera at the world's centre."""
    rng = np.random.default_rng([seed, scene, 2])
    return _shoot(world, rng, tilt=0.01, quality=int(rng.integers(85, 96)))


def second_shot(world: Image.Image, scene: int, seed: int, take: int) -> bytes:
    """The same machine from a moved camera: shifted 8–20% of the frame along at least one axis
    (the other up to 8%), zoomed 0.9–1.1, a slight perspective change, new noise."""
    rng = np.random.default_rng([seed, scene, 3, take])
    main = rng.uniform(0.08, 0.20) * rng.choice([-1, 1])
    other = rng.uniform(-0.08, 0.08)
    shift = (main, other) if rng.random() < 0.6 else (other, main)
    zoom = rng.uniform(0.9, 1.1)
    return _shoot(world, rng, shift=shift, zoom=zoom, tilt=0.03, quality=int(rng.integers(80, 96)))


def _stamp(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A phone's time-and-place stamp in a corner or along the bottom, sometimes on a
    semi-transparent band: a timestamp line, then the place in pinyin and blocky glyphs."""
    img = img.convert("RGBA")
    w, h = img.size
    size = max(10, int(h * rng.uniform(0.03, 0.055)))
    font = ImageFont.truetype(str(FONT_PATH), size)
    month, day, hour, minute = (int(rng.integers(n)) for n in (12, 28, 24, 60))
    stamp = f"2026-{month + 1:02d}-{day + 1:02d} {hour:02d}:{minute:02d}"
    place = PLACES[rng.integers(len(PLACES))] + " "
    glyphs = int(rng.integers(4, 12))
    text_w = int(font.getlength(place)) + glyphs * size
    lines_h = int(size * 2.6)
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    where = rng.choice(
        ["bottom_left", "bottom_right", "bottom", "top_left"], p=[0.35, 0.3, 0.25, 0.1]
    )
    pad = int(size * 0.6)
    x = pad if where in ("bottom_left", "bottom", "top_left") else max(pad, w - text_w - pad)
    y = pad if where == "top_left" else h - lines_h - pad
    if where == "bottom" or rng.random() < 0.4:
        alpha = int(rng.uniform(0.3, 0.6) * 255)
        band = (
            (0, y - pad // 2, w, y + lines_h + pad // 2)
            if where == "bottom"
            else (x - pad // 2, y - pad // 2, x + text_w + pad, y + lines_h + pad // 2)
        )
        draw.rectangle(band, fill=(0, 0, 0, alpha))
    color = (255, 255, 255, 255) if rng.random() < 0.7 else (255, 210, 60, 255)
    draw.text((x, y), stamp, font=font, fill=color)
    line2 = y + int(size * 1.3)
    draw.text((x, line2), place, font=font, fill=color)
    gx = x + int(font.getlength(place))
    stroke = max(1, size // 8)
    for _ in range(glyphs):  # a pseudo-CJK glyph: a few strokes inside a size × size cell
        for _ in range(int(rng.integers(3, 7))):
            if rng.random() < 0.5:
                sy = line2 + int(rng.uniform(0.1, 0.9) * size)
                x0, x1 = sorted(gx + rng.uniform(0.05, 0.95, 2) * size)
                draw.rectangle((x0, sy, x1, sy + stroke), fill=color)
            else:
                sx = gx + int(rng.uniform(0.1, 0.9) * size)
                y0, y1 = sorted(line2 + rng.uniform(0.05, 0.95, 2) * size)
                draw.rectangle((sx, y0, sx + stroke, y1), fill=color)
        gx += size
    return Image.alpha_composite(img, layer).convert("RGB")


EDITS = ("resize", "crop", "tone", "rotate", "stamp")


def reuse(data: bytes, scene: int, seed: int, take: int) -> tuple[bytes, tuple[str, ...]]:
    """The original file edited again: 1–4 random edits of ``EDITS`` (a stamp in half of the
    reuses), then saved at JPEG quality 40–95. Returns the bytes and the edits applied."""
    rng = np.random.default_rng([seed, scene, 4, take])
    chosen = {str(e) for e in rng.choice(EDITS[:4], int(rng.integers(1, 4)), replace=False)}
    if rng.random() < 0.5:
        chosen.add("stamp")
    img = Image.open(io.BytesIO(data)).convert("RGB")
    if "rotate" in chosen:
        degrees = rng.uniform(-3, 3)
        w, h = img.size
        img = img.rotate(degrees, Image.Resampling.BICUBIC)
        # Keep the largest axis-aligned rectangle free of the rotation's empty corners.
        s, c = abs(math.sin(math.radians(degrees))), math.cos(math.radians(degrees))
        dx, dy = math.ceil((h * s + w * (1 - c)) / 2), math.ceil((w * s + h * (1 - c)) / 2)
        img = img.crop((dx, dy, w - dx, h - dy))
    if "crop" in chosen:
        w, h = img.size
        left, top, right, bottom = rng.uniform(0, 0.1, 4)
        img = img.crop((int(left * w), int(top * h), w - int(right * w), h - int(bottom * h)))
    if "tone" in chosen:
        gain, offset = rng.uniform(0.8, 1.2), rng.uniform(-0.2, 0.2) * 128
        arr = np.asarray(img, np.float32)
        arr = (arr - 128) * gain + 128 + offset
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if "resize" in chosen:
        factor = rng.uniform(0.4, 1.5)
        w, h = img.size
        img = img.resize(
            (max(16, round(w * factor)), max(16, round(h * factor))), Image.Resampling.LANCZOS
        )
    if "stamp" in chosen:
        img = _stamp(img, rng)
    return _jpeg(img, int(rng.integers(40, 96))), tuple(e for e in (*EDITS,) if e in chosen)


def scene_photos(
    scene: int, *, seed: int, indexed: bool = True, reuses: float = 0.6, second_shots: float = 0.3
) -> list[Photo]:
    """The photos of one scene: its original, then with probability ``reuses`` a reuse and with
    probability ``second_shots`` a second shot. A scene that is not ``indexed`` gives only its
    original, as an unrelated query. Each scene depends only on (seed, scene), so scenes can be
    generated in any order or in parallel."""
    world = render_world(scene, seed)
    data = original(world, scene, seed)
    if not indexed:
        return [Photo(f"u{scene:05d}.jpg", data, "unrelated", scene)]
    photos = [Photo(f"s{scene:05d}.jpg", data, "original", scene)]
    rng = np.random.default_rng([seed, scene, 0])
    if rng.random() < reuses:
        edited, edits = reuse(data, scene, seed, 0)
        photos.append(Photo(f"r{scene:05d}.jpg", edited, "reuse", scene, edits))
    if rng.random() < second_shots:
        photos.append(
            Photo(f"m{scene:05d}.jpg", second_shot(world, scene, seed, 0), "second_shot", scene)
        )
    return photos


def corpus(
    scenes: int,
    *,
    seed: int,
    unrelated: int | None = None,
    processes: int = 1,
) -> list[Photo]:
    """The photos of ``scenes`` indexed scenes (``scene_photos``), then the originals of
    ``unrelated`` further scenes (default 30% of ``scenes``) that are never indexed; generated
    over ``processes`` processes."""
    extra = round(0.3 * scenes) if unrelated is None else unrelated
    jobs = [(scene, seed, scene < scenes) for scene in range(scenes + extra)]
    if processes > 1:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            parts = pool.starmap(_scene_job, jobs, chunksize=16)
    else:
        parts = [_scene_job(*job) for job in jobs]
    return [photo for part in parts for photo in part]


def _scene_job(scene: int, seed: int, indexed: bool) -> list[Photo]:
    return scene_photos(scene, seed=seed, indexed=indexed)


def write_corpus(
    out: Path, scenes: int, *, seed: int, unrelated: int | None = None, processes: int = 1
) -> tuple[Path, Path, Path]:
    """Write a corpus as ``out/index/``, ``out/query/`` and ``out/truth.jsonl``; return them.

    The truth says, per query file, which index file is the same photo (or null) and the kind.
    """
    index, query = out / "index", out / "query"
    index.mkdir(parents=True, exist_ok=True)
    query.mkdir(parents=True, exist_ok=True)
    truth = []
    for photo in corpus(scenes, seed=seed, unrelated=unrelated, processes=processes):
        if photo.kind == "original":
            (index / photo.name).write_bytes(photo.data)
            continue
        (query / photo.name).write_bytes(photo.data)
        match = f"s{photo.scene:05d}.jpg" if photo.kind == "reuse" else None
        truth.append(
            {"query": photo.name, "match": match, "kind": photo.kind, "edits": list(photo.edits)}
        )
    truth_path = out / "truth.jsonl"
    truth.sort(key=lambda t: str(t["query"]))
    truth_path.write_text("".join(json.dumps(t) + "\n" for t in truth), encoding="utf-8")
    return index, query, truth_path
