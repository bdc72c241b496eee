"""``crossmost-data render --selftest``: learn in seconds whether headless rendering works on this machine.

A unit icosphere is rendered from a ring of cameras. For a sphere the expected picture is known in closed form: a
disc centred in the image whose radius follows from the field of view and the camera distance. The self-test checks
that the object covers about that fraction of the image, that the disc is centred, that it is lit (neither black nor
the background colour, and not uniformly flat), that the corners show the background, and that rendering twice gives
identical pixels.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crossmost_data.views.config import RenderConfig
from crossmost_data.views.gl_platform import GLUnavailableError, PyOpenGLVersionError

__all__ = ["SelftestReport", "expected_sphere_fraction", "run_selftest"]


@dataclass(frozen=True)
class SelftestReport:
    """Outcome of :func:`run_selftest`.

    Attributes:
        ok: Every check passed.
        message: One line per check (or the error that stopped the test), ready to print.
        platform: The ``PYOPENGL_PLATFORM`` used, or ``None`` when no platform could be chosen.
        seconds: Wall time of the whole test, context creation included.
        checks: Check name → passed.
        views_per_second: Rendering speed measured on the second (warm) render of the test views (0 when nothing
            rendered).
    """

    ok: bool
    message: str
    platform: str | None
    seconds: float
    checks: dict[str, bool] = field(default_factory=dict)
    views_per_second: float = 0.0

    def __str__(self) -> str:
        status = "OK" if self.ok else "FAILED"
        return (
            f"render self-test {status} (platform={self.platform or 'none'}, {self.seconds:.2f} s, "
            f"{self.views_per_second:.1f} views/s)\n{self.message}"
        )


def expected_sphere_fraction(config: RenderConfig) -> float:
    """Fraction of the image covered by the unit sphere seen by a perspective camera of ``config``."""
    half_angle = math.asin(1.0 / config.camera_distance)
    radius = math.tan(half_angle) / math.tan(math.radians(config.fov_deg) / 2.0)  # in half-image units
    return math.pi * radius**2 / 4.0


def _foreground(image: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    return np.any(np.abs(image.astype(np.int16) - np.asarray(background, dtype=np.int16)) > 8, axis=-1)


def run_selftest(
    config: RenderConfig | None = None, *, output_dir: str | Path | None = None, tolerance: float = 0.15
) -> SelftestReport:
    """Render a unit icosphere and check the result against what geometry predicts.

    Args:
        config: Render settings to test (default: 4 ring views at 128 px on a white background).
        output_dir: When given, the views are written there as ``selftest_viewNN.png`` for inspection.
        tolerance: Allowed relative error of the covered fraction, and allowed offset of the mask centroid from the
            image centre as a fraction of the image size.

    Returns:
        The report; ``ok`` is False (never an exception) when rendering is impossible or a check fails.
    """
    import trimesh

    config = config if config is not None else RenderConfig(num_views=4, image_size=128)
    start = time.perf_counter()
    platform: str | None = None
    try:
        from crossmost_data.views.renderer import get_process_renderer

        renderer = get_process_renderer(config)
        platform = renderer.platform
        sphere = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
        first = renderer.render(sphere)  # the first render also compiles the shaders
        render_start = time.perf_counter()
        second = renderer.render(sphere)
        render_seconds = time.perf_counter() - render_start
    except (GLUnavailableError, PyOpenGLVersionError, ImportError, RuntimeError) as error:
        return SelftestReport(
            ok=False,
            message=f"cannot render: {type(error).__name__}: {error}",
            platform=platform,
            seconds=time.perf_counter() - start,
        )

    expected = expected_sphere_fraction(config)
    size = config.image_size
    lines: list[str] = []
    checks: dict[str, bool] = {}

    def record(name: str, passed: bool, detail: str) -> None:
        checks[name] = passed
        lines.append(f"  [{'ok' if passed else 'FAIL'}] {name}: {detail}")

    fractions, offsets, lit = [], [], []
    for image in first.images:
        mask = _foreground(image, config.background)
        fractions.append(float(mask.mean()))
        if mask.any():
            rows, cols = np.nonzero(mask)
            centre = (size - 1) / 2.0
            offsets.append(max(abs(rows.mean() - centre), abs(cols.mean() - centre)) / size)
            pixels = image[mask].astype(np.float64)
            lit.append((float(pixels.mean()), float(pixels.std())))
        else:
            offsets.append(1.0)
            lit.append((0.0, 0.0))
    record("size", all(img.shape == (size, size, 3) for img in first.images), f"{size}×{size}×3 uint8 views")
    worst_fraction = max(fractions, key=lambda f: abs(f - expected))
    record(
        "coverage",
        abs(worst_fraction - expected) <= tolerance * expected,
        f"object covers {worst_fraction:.3f} of the image, geometry predicts {expected:.3f}",
    )
    record("centred", max(offsets) <= tolerance, f"mask centroid off-centre by at most {max(offsets):.3f} of the width")
    corners = np.concatenate([img[[0, 0, -1, -1], [0, -1, 0, -1]] for img in first.images])
    record(
        "background",
        bool(np.all(np.abs(corners.astype(int) - np.asarray(config.background)) <= 2)),
        f"corners show the background colour {tuple(config.background)}",
    )
    record(
        "shaded",
        all(mean > 20.0 and std > 2.0 for mean, std in lit),
        "object pixels are lit and vary with the surface normal "
        f"(mean {min(m for m, _ in lit):.0f}, std {min(s for _, s in lit):.1f})",
    )
    record(
        "deterministic",
        all(np.array_equal(a, b) for a, b in zip(first.images, second.images, strict=True)),
        "two renders of the same mesh are identical",
    )
    if output_dir is not None:
        from PIL import Image

        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        for index, image in enumerate(first.images):
            Image.fromarray(image).save(out / f"selftest_view{index:02d}.png")
        lines.append(f"  views written to {out}")
    return SelftestReport(
        ok=all(checks.values()),
        message="\n".join(lines),
        platform=platform,
        seconds=time.perf_counter() - start,
        checks=checks,
        views_per_second=len(first.images) / render_seconds if render_seconds > 0 else 0.0,
    )
