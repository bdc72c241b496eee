"""Classify a point cloud and an image with class names of your choice, using only crossmost-models.

One object, a ball, is given twice: as a point cloud (points sampled on a sphere with numpy, z up as many scanners
write them) and as a picture (a shaded disc drawn with PIL). ``create_model_and_transforms`` returns the model and
the two transforms that make its inputs (the image resized, cropped and CLIP-normalised; the cloud turned y-up,
resampled to the model's point count and scaled into the unit sphere). The model scores both against the class names
you pass, and the two predictions are combined into a joint one, the way crossmost evaluates (the mean of the two
softmax distributions).

By default the model is the ``tiny`` architecture with ``pretrained=None``: every weight is random, so the
predictions are **untrained** and only show the shapes and the API. Nothing is downloaded and it runs in seconds on
a CPU. For real predictions pass real weights (see ``--help`` and the comments in ``build_model``), e.g.::

    python examples/classify_point_cloud_and_image.py --model vit-b16-pointbert --pretrained openai \\
        --point-pretrained checkpoints/ulip-june11.safetensors --classes sphere cube chair

(``docs/reproduction.md`` says where the point checkpoint comes from.)

Run: ``uv run python examples/classify_point_cloud_and_image.py --classes sphere cube cone``
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

import crossmost_models as cm


def sphere_points(num_points: int, rng: np.random.Generator) -> np.ndarray:
    """``num_points×3`` points uniformly on the unit sphere (normalised Gaussian samples)."""
    points = rng.normal(size=(num_points, 3))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


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


def build_model(
    name: str, classes: Sequence[str], pretrained: str | None, point_pretrained: str | None, *, up_axis: str = "z"
) -> tuple[cm.CrossModalModel, Callable[[Image.Image], torch.Tensor], cm.PointTransform]:
    """The classifier for ``classes`` and the transforms of its inputs (clouds with ``up_axis`` pointing up).

    ``pretrained`` sets the CLIP towers: ``None`` (random; nothing downloaded), an open_clip pretrained tag such as
    ``"openai"`` for ``vit-b16-pointbert`` (open_clip downloads it once into its cache), a local open_clip
    checkpoint file, or a folder written by ``save_pretrained`` / ``crossmost-train selftrain`` (``<run>/model``).
    ``point_pretrained`` loads the point tower from a ULIP, Point-BERT or Cross-MoST checkpoint file, strictly
    (the same as ``crossmost_models.load_point_branch(model, path)``, which returns a report of loaded / missing /
    unexpected keys).
    """
    model, image_transform, point_transform = cm.create_model_and_transforms(
        name,
        pretrained=pretrained,
        point_pretrained=point_pretrained,
        classnames=list(classes),  # any names: the classifier is built from their prompt embeddings
        up_axis=up_axis,
    )
    return model.eval(), image_transform, point_transform


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
    model, image_transform, point_transform = build_model(
        args.model, args.classes, args.pretrained, args.point_pretrained
    )
    if args.points:
        point_transform = cm.PointTransform(args.points, up_axis=point_transform.up_axis, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    cloud = 0.3 * sphere_points(2 * point_transform.num_points, rng) + [2.0, -1.0, 5.0]  # anywhere, any size
    points = point_transform(cloud)[None]  # 1×N×3: y up, centred, unit sphere
    image = image_transform(ball_picture())[None]  # 1×3×H×W
    num_points = points.shape[1]

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
