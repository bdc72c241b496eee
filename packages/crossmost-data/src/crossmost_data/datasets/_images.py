"""Reading given views and photo frames as H×W×3 uint8 RGB arrays."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from crossmost_data.items import BadItemError


def read_rgb(path: Path) -> np.ndarray:
    """One image as an H×W×3 uint8 RGB array (grey, palette and RGBA images are converted).

    Raises:
        BadItemError: The image is missing or cannot be decoded; the message names the file.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise BadItemError(f"image not found: {path}") from None
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise BadItemError(f"unreadable image {path} ({type(error).__name__}: {error})") from error
    if array.ndim != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise BadItemError(f"image {path} has shape {array.shape}")
    return array


def read_rgb_list(paths: Sequence[Path]) -> list[np.ndarray]:
    """Several images in the given order (see ``read_rgb``)."""
    return [read_rgb(path) for path in paths]
