"""Classify a point cloud and an image with class names of your choice, using only crossmost-models.

One object, a ball, is given twice: as a point cloud (points sampled on a sphere with numpy) and as a picture (a
shaded disc drawn with PIL). A ``CrossModalModel`` scores both against the class names you pass, and the two
predictions are combined into a joint one, the way crossmost evaluates (the mean of the two softmax distributions).

By default the model is the ``tiny`` architecture with ``pretrained=None``: every weight is random, so the
predictions are **untrained** and only show the shapes and the API. Nothing is downloaded and it runs in seconds on
a CPU. For real predictions pass real weights (see ``--help`` and the comments in ``build_model``), e.g.::

    python examples/classify_point_cloud_and_image.py --model vit-b16-pointbert --pretrained openai \\
        --point-pretrained ulip_pointbert.pt --classes sphere cube chair

Run: ``uv run python examples/classify_point_cloud_and_image.py --classes sphere cube cone``
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

import crossmost_models as cm

# CLIP's pixel statistics: every crossmost image tower expects images normalised with them (docs/architecture.md).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def sphere_points(num_points: int, rng: np.random.Generator) -> np.ndarray:
    """``num_points×3`` points uniformly on the unit sphere (normalised Gaussian samples)."""
    points = rng.normal(size=(num_points, 3))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def to_unit_sphere(points: np.ndarray) -> np.ndarray:
    """Centre a cloud on its centroid and scale it to radius 1: the frame every crossmost model expects (y up)."""
    centred = points - points.mean(axis=0)
    return centred / np.linalg.norm(centred, axis=1).max()


def ball_picture(size: int = 224) -> Image.Image:
    """A shaded ball on a white background, as a stand-in for a photo or a rendered view."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    centre, radius = size / 2, size * 0.35
    for step in range(32, 0, -1):  # concentric discs, darker outside: a cheap shading
        r = radius * step / 32
        shade = int(60 + 150 * (1 - step / 32))
        draw.ellipse((centre - r, centre - r, centre + r, centre + r), fill=(shade, shade, 220))
    return image


def image_to_tensor(image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """``3×H×W`` float tensor: resized (bicubic) to the tower's input size and CLIP-normalised."""
    resized = image.convert("RGB").resize((size[1], size[0]), Image.Resampling.BICUBIC)
    pixels = torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(CLIP_MEAN).view(3, 1, 1)
    std = torch.tensor(CLIP_STD).view(3, 1, 1)
    return (pixels - mean) / std


def build_model(
    name: str, classes: Sequence[str], pretrained: str | None, point_pretrained: str | None
) -> cm.CrossModalModel:
    """The classifier for ``classes``.

    ``pretrained`` sets the CLIP towers: ``None`` (random; nothing downloaded), an open_clip pretrained tag such as
    ``"openai"`` for ``vit-b16-pointbert`` (open_clip downloads it once into its cache), a local open_clip
    checkpoint file, or a folder written by ``save_pretrained`` / ``crossmost-train selftrain`` (``<run>/model``).
    ``point_pretrained`` loads the point tower from a ULIP, Point-BERT or Cross-MoST checkpoint file, strictly
    (the same as ``model.load_point_weights(crossmost_models.convert.read_checkpoint(path))``, which returns a
    report of loaded / missing / unexpected keys).
    """
    model = cm.create_model(
        name,
        pretrained=pretrained,
        point_pretrained=point_pretrained,
        classnames=list(classes),  # any names: the classifier is built from their prompt embeddings
    )
    return model.eval()


def format_row(label: str, probabilities: torch.Tensor, classes: Sequence[str], width: int) -> str:
    cells = "".join(f"{p:>{width}.3f}" for p in probabilities.tolist())
    return f"{label:<8}{cells}   -> {classes[int(probabilities.argmax())]}"


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Classify one point cloud and one image; print and return the class probabilities of each branch.

    Returns:
        ``{"point": {...}, "image": {...}, "joint": {...}}``, each a mapping class name → probability.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", nargs="+", default=["sphere", "cube", "cone", "chair"], help="class names")
    parser.add_argument("--model", default="tiny", help=f"model config, one of {cm.list_models()}")
    parser.add_argument("--pretrained", default=None, help="CLIP weights: open_clip tag, local file or saved model")
    parser.add_argument("--point-pretrained", default=None, help="ULIP / Point-BERT / Cross-MoST checkpoint file")
    parser.add_argument("--points", type=int, default=0, help="points in the cloud (default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if len(args.classes) < 2:
        parser.error("give at least two class names")

    torch.manual_seed(args.seed)  # random towers (pretrained=None) are drawn from torch's generator
    model = build_model(args.model, args.classes, args.pretrained, args.point_pretrained)
    num_points = args.points or model.config.num_points
    rng = np.random.default_rng(args.seed)
    points = torch.from_numpy(to_unit_sphere(sphere_points(num_points, rng)).astype(np.float32))[None]  # 1×N×3
    image = image_to_tensor(ball_picture(), model.image_size)[None]  # 1×3×H×W

    with torch.no_grad():
        out = model(image, points)  # CrossModalOutput: embeddings and logits of both branches
        # The same numbers, one modality at a time: classify(encode_points(...)) and classify(encode_image(...)).
        point_probabilities = out.point_logits.softmax(dim=-1)[0]
        image_probabilities = out.image_logits.softmax(dim=-1)[0]
    joint_probabilities = (point_probabilities + image_probabilities) / 2

    state = "pretrained" if args.pretrained or args.point_pretrained else "untrained: pretrained=None"
    print(f"model {args.model!r} ({state}), {num_points} points, image {model.image_size[0]}px")
    width = max(8, *(len(c) + 2 for c in args.classes))
    print(" " * 8 + "".join(f"{c:>{width}}" for c in args.classes))
    rows = {"point": point_probabilities, "image": image_probabilities, "joint": joint_probabilities}
    for label, probabilities in rows.items():
        print(format_row(label, probabilities, args.classes, width))
    return {label: dict(zip(args.classes, p.tolist(), strict=True)) for label, p in rows.items()}


if __name__ == "__main__":
    main()
