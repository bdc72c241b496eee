"""Image-space looks of the synthetic 2D corpus: one rendered view (colour and depth) → a photo-like variant.

A CLIP model knows far more than any 3D dataset because it saw the world's images in every look: lit from anywhere,
in any colour, on any background, cropped, blurred, drawn, in grey or as depth-like shading. The 2D corpus of the
synthetic benchmark gives the tiny image tower a little of that breadth: every view of a corpus object is rendered
once and then given a random look here. Everything is vectorised numpy on one small image, so a look costs far less
than the render it starts from.

The looks (each drawn with its own probability, see :func:`random_look`):

* style: the rendered colours with jittered hue, saturation, brightness, contrast and gamma (most views); grey;
  depth-shaded grey (near surfaces bright, like a depth camera's preview or PointCLIP's projections); a line
  drawing (dark contours of the depth and colour edges on a light ground);
* background: white (a product shot), a plain colour, a two-colour gradient, or smooth noise texture (the object's
  mask is ``depth > 0``);
* framing: a random crop that can cut part of the object off, resized back, and a horizontal flip;
* degradations: blur and sensor noise.
"""

from __future__ import annotations

import colorsys

import numpy as np

__all__ = ["LOOK_STYLES", "depth_shaded", "line_drawing", "occlude", "random_look"]

LOOK_STYLES = ("colour", "grey", "depth", "drawing")
"""The styles :func:`random_look` draws from, in the order of its ``style_weights``."""

_DEFAULT_STYLE_WEIGHTS = (0.8, 0.08, 0.07, 0.05)


def _as_float(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) / 255.0


def depth_shaded(depth: np.ndarray) -> np.ndarray:
    """A grey H×W×3 float image of a depth map: the nearest surface white, the farthest dark grey, background black."""
    mask = depth > 0
    out = np.zeros((*depth.shape, 3), dtype=np.float32)
    if not mask.any():
        return out
    near, far = float(depth[mask].min()), float(depth[mask].max())
    span = max(far - near, 1e-6)
    shade = 1.0 - 0.75 * (depth - near) / span
    out[mask] = shade[mask, None]
    return out


def _edges(values: np.ndarray) -> np.ndarray:
    """Magnitude of the forward differences of an H×W(×C) array, summed over channels (H×W)."""
    dy = np.abs(np.diff(values, axis=0, append=values[-1:]))
    dx = np.abs(np.diff(values, axis=1, append=values[:, -1:]))
    total = dx + dy
    return total.sum(axis=2) if total.ndim == 3 else total


def line_drawing(rgb: np.ndarray, depth: np.ndarray, ink: float = 0.1, paper: float = 0.95) -> np.ndarray:
    """A line drawing (H×W×3 float) of a view: depth and colour edges in ``ink`` on ``paper`` grey."""
    mask = (depth > 0).astype(np.float32)
    span = float(np.ptp(depth[depth > 0])) if (depth > 0).any() else 1.0
    relief = np.where(depth > 0, depth / max(span, 1e-6), 0.0)
    strength = np.clip(_edges(mask) + 4.0 * _edges(relief) * mask + 1.5 * _edges(_as_float(rgb)) * mask, 0.0, 1.0)
    lines = (strength > 0.25).astype(np.float32)
    grey = paper + (ink - paper) * lines
    return np.repeat(grey[..., None], 3, axis=2)


def _hsv_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate the hue (half the time) and scale the saturation of an H×W×3 float image."""
    grey = image.mean(axis=2, keepdims=True)
    saturation = rng.uniform(0.3, 1.4)
    image = grey + (image - grey) * saturation
    if rng.random() < 0.5:
        # A hue rotation is a rotation about the grey axis of RGB space.
        angle = rng.uniform(0.0, 2.0 * np.pi)
        axis = np.full(3, 1.0 / np.sqrt(3.0))
        cos, sin = np.cos(angle), np.sin(angle)
        cross = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
        rotation = cos * np.eye(3) + sin * cross + (1.0 - cos) * np.outer(axis, axis)
        image = image @ rotation.T.astype(np.float32)
    return image


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.8), rng.uniform(0.1, 1.0))
    return np.array([r, g, b], dtype=np.float32)


def _smooth_noise(size: int, rng: np.random.Generator) -> np.ndarray:
    """An H×W×3 float texture: coarse random colours upsampled bilinearly."""
    cells = int(rng.integers(2, 7))
    coarse = rng.random((cells + 1, cells + 1, 3)).astype(np.float32)
    coords = np.linspace(0.0, cells, size, dtype=np.float32)
    low = np.minimum(coords.astype(np.int64), cells - 1)
    frac = coords - low
    rows = coarse[low] * (1.0 - frac)[:, None, None] + coarse[low + 1] * frac[:, None, None]
    return rows[:, low] * (1.0 - frac)[None, :, None] + rows[:, low + 1] * frac[None, :, None]


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    kind = rng.random()
    if kind < 0.3:  # a product shot: white or nearly
        return np.full((size, size, 3), rng.uniform(0.9, 1.0), dtype=np.float32)
    if kind < 0.55:
        return np.broadcast_to(_random_colour(rng), (size, size, 3)).copy()
    if kind < 0.8:
        top, bottom = _random_colour(rng), _random_colour(rng)
        ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
        return np.broadcast_to(top * (1.0 - ramp) + bottom * ramp, (size, size, 3)).copy()
    return _smooth_noise(size, rng)


def _crop(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random square crop of 65–100 % of the side, anywhere in the image, resized back (nearest pixel)."""
    size = image.shape[0]
    side = max(4, round(size * rng.uniform(0.65, 1.0)))
    top, left = (int(v) for v in rng.integers(0, size - side + 1, size=2))
    index = np.minimum((np.arange(size) * side / size).astype(np.int64), side - 1)
    return image[top + index][:, left + index]


def _blur(image: np.ndarray) -> np.ndarray:
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    size = image.shape[0]
    shifted = [padded[dy : dy + size, dx : dx + size] for dy in range(3) for dx in range(3)]
    return np.mean(shifted, axis=0)


def random_look(
    rgb: np.ndarray,
    depth: np.ndarray,
    rng: np.random.Generator,
    *,
    style_weights: tuple[float, float, float, float] = _DEFAULT_STYLE_WEIGHTS,
) -> np.ndarray:
    """Give one rendered view a random look (style, background, framing, degradations; see the module docstring).

    Args:
        rgb: The rendered view, H×W×3 uint8 (square).
        depth: Its depth map, H×W float, 0 where the background shows.
        rng: Source of every random choice.
        style_weights: Probabilities of the styles of :data:`LOOK_STYLES`.

    Returns:
        The new view, H×W×3 uint8.

    Raises:
        ValueError: The image is not square RGB, the depth map does not match it, or the weights are not four
            non-negative numbers with a positive sum.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] != rgb.shape[1]:
        raise ValueError(f"random_look needs a square H×W×3 image, got shape {rgb.shape}")
    if depth.shape != rgb.shape[:2]:
        raise ValueError(f"the depth map has shape {depth.shape}, the image {rgb.shape[:2]}")
    weights = np.asarray(style_weights, dtype=np.float64)
    if weights.shape != (len(LOOK_STYLES),) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"style_weights must be {len(LOOK_STYLES)} non-negative numbers with a positive sum")
    style = LOOK_STYLES[int(rng.choice(len(LOOK_STYLES), p=weights / weights.sum()))]
    mask = (depth > 0)[..., None]
    size = rgb.shape[0]
    if style == "depth":
        image = depth_shaded(depth)  # depth-camera previews keep their black background
    elif style == "drawing":
        image = line_drawing(rgb, depth, paper=rng.uniform(0.8, 1.0))
    else:
        image = _as_float(rgb)
        image = _hsv_jitter(image, rng) if style == "colour" else np.repeat(image.mean(axis=2, keepdims=True), 3, 2)
        contrast, brightness = rng.uniform(0.6, 1.3), rng.uniform(0.55, 1.3)
        image = (image - 0.5) * contrast + 0.5
        image = np.clip(image * brightness, 0.0, 1.0) ** rng.uniform(0.7, 1.4)
        image = np.where(mask, image, _background(size, rng))
    if rng.random() < 0.5:
        image = image[:, ::-1]
    if rng.random() < 0.4:
        image = _crop(image, rng)
    if rng.random() < 0.2:
        image = _blur(image)
    if rng.random() < 0.2:
        image = image + rng.normal(0.0, rng.uniform(0.02, 0.08), image.shape).astype(np.float32)
    return np.clip(np.rint(np.asarray(image) * 255.0), 0, 255).astype(np.uint8)


def occlude(rgb: np.ndarray, depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Put something in front of the object: a box standing on the ground before the camera, in a dull colour and
    lit from above, that hides the lower 40–80 % of a third to two thirds of the object's width.

    Args:
        rgb: The rendered view, H×W×3 uint8.
        depth: Its depth map, H×W (``depth > 0`` is the object).
        rng: Source of every random choice.

    Returns:
        The occluded view, H×W×3 uint8 (the view unchanged when the object is not in it).
    """
    rows, cols = np.nonzero(depth > 0)
    if rows.size == 0:
        return rgb.copy()
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    width = max(1, round((right - left + 1) * rng.uniform(0.35, 0.65)))
    start = int(rng.integers(left, max(left + 1, right + 2 - width)))
    reach = bottom - round((bottom - top + 1) * rng.uniform(0.4, 0.8))
    out = rgb.astype(np.float32)
    colour = np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.4), rng.uniform(0.25, 0.6))) * 255.0
    shade = np.linspace(1.15, 0.7, rgb.shape[0] - reach, dtype=np.float32)[:, None, None]  # lit from above
    out[reach:, start : start + width] = np.clip(colour * shade, 0, 255)
    return np.rint(out).astype(np.uint8)
