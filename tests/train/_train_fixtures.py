"""Small stand-ins following the contracts of docs/architecture.md, for tests of the training loop itself.

`FakeCrossModalModel` has the ``CrossModalModel`` interface (forward → the real ``CrossModalOutput``, encode_*,
classify, save_pretrained, ``image_num_layers``, ``point_encoder.encoder`` with a BatchNorm) at a few thousand
parameters. `SeparableTrainSet` / `SeparableEvalSet` give samples in the loader's batch layout whose content is a
function of (seed, epoch, index): class ``c`` objects are noisy copies of a class prototype in both modalities.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmost_models import CrossModalOutput

IMAGE = 8
PATCH = 4
POINTS = 16
VIEWS = 3


class _Tower(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, dim, PATCH, PATCH)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.ModuleList([nn.Linear(dim, dim), nn.Linear(dim, dim)])
        self.proj = nn.Linear(dim, dim)


class _PointTower(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(3, dim), nn.BatchNorm1d(dim))
        self.block = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, dim)


class FakeCrossModalModel(nn.Module):
    image_num_layers = 2

    def __init__(self, num_classes: int, dim: int = 16, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.image_tower = _Tower(dim)
        self.point_encoder = _PointTower(dim)
        self.classifier = nn.Parameter(F.normalize(torch.randn(dim, num_classes, generator=g), dim=0))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        self.config = type("Cfg", (), {"name": "fake"})()

    def _image(self, images: Tensor, mask: Tensor | None) -> Tensor:
        x = self.image_tower.conv1(images)  # B×D×h×w
        if mask is not None:
            x = x * (~mask)[:, None].float()
        x = x.flatten(2).mean(dim=2)
        for blk in self.image_tower.transformer.resblocks:
            x = x + torch.tanh(blk(x))
        return F.normalize(self.image_tower.proj(x), dim=-1)

    def _points(self, points: Tensor, drop: Tensor | None) -> Tensor:
        b, n, _ = points.shape
        x = self.point_encoder.encoder[0](points).reshape(b * n, -1)
        x = self.point_encoder.encoder[1](x).reshape(b, n, -1)
        if drop is not None:
            x = x.masked_fill(drop[..., None], -1e4)
        x = x.amax(dim=1)
        x = x + torch.tanh(self.point_encoder.block(x))
        return F.normalize(self.point_encoder.head(x), dim=-1)

    def encode_image(self, images: Tensor) -> Tensor:
        return self._image(images, None)

    def encode_points(self, points: Tensor) -> Tensor:
        return self._points(points, None)

    def classify(self, embedding: Tensor) -> Tensor:
        return self.logit_scale.exp() * embedding @ self.classifier

    def forward(
        self,
        images: Tensor,
        points: Tensor,
        *,
        image_mask: Tensor | None = None,
        mask_points: bool = False,
        generator: torch.Generator | None = None,
    ) -> CrossModalOutput:
        drop = None
        if mask_points:
            drop = torch.rand(points.shape[:2], generator=generator, device=points.device) < 0.3
            drop[:, 0] = False
        image = self._image(images, image_mask)
        point = self._points(points, drop)
        return CrossModalOutput(
            image_embedding=image,
            point_embedding=point,
            image_logits=self.classify(image),
            point_logits=self.classify(point),
            image_patch_mask=image_mask,
        )

    def save_pretrained(self, path: str | Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        torch.save(self.state_dict(), Path(path) / "weights.pt")


def _prototypes(num_classes: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(1234)
    return torch.randn(num_classes, 3, IMAGE, IMAGE, generator=g), torch.randn(num_classes, POINTS, 3, generator=g)


class SeparableTrainSet(torch.utils.data.Dataset):
    def __init__(self, num_samples: int, num_classes: int, seed: int = 0, noise: float = 0.3) -> None:
        self.n, self.c, self.seed, self.noise = num_samples, num_classes, seed, noise
        self.images, self.points = _prototypes(num_classes)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, Any]:
        label = index % self.c
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch * 10_007 + index)
        base_img, base_pts = self.images[label], self.points[label]

        def noisy(x: Tensor, scale: float) -> Tensor:
            return x + scale * torch.randn(x.shape, generator=g)

        return {
            "index": index,
            "uid": f"obj{index}",
            "label": label,
            "image_weak": noisy(base_img, self.noise),
            "image_strong": noisy(base_img, 2 * self.noise),
            "image_mask": torch.rand(IMAGE // PATCH, IMAGE // PATCH, generator=g) < 0.3,
            "points_weak": noisy(base_pts, self.noise),
            "points_strong": noisy(base_pts, 2 * self.noise),
        }


class SeparableEvalSet(torch.utils.data.Dataset):
    def __init__(self, num_samples: int, num_classes: int, noise: float = 0.3) -> None:
        self.n, self.c, self.noise = num_samples, num_classes, noise
        self.images, self.points = _prototypes(num_classes)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, Any]:
        label = index % self.c
        g = torch.Generator().manual_seed(99_991 + index)
        views = self.images[label][None] + self.noise * torch.randn(VIEWS, 3, IMAGE, IMAGE, generator=g)
        return {
            "index": index,
            "uid": f"obj{index}",
            "label": label,
            "image": views[0],
            "views": views,
            "points": self.points[label] + self.noise * torch.randn(POINTS, 3, generator=g),
        }


def fake_components(num_classes: int = 4, train_size: int = 32, eval_size: int = 13) -> Any:
    from crossmost_train.run_builder import Components

    names = [f"class{i}" for i in range(num_classes)]
    return Components(
        classnames=lambda cfg: names,
        model=lambda cfg, classnames: FakeCrossModalModel(len(classnames)),
        train_dataset=lambda cfg, model: SeparableTrainSet(train_size, num_classes, seed=cfg.data.seed),
        eval_dataset=lambda cfg, model: SeparableEvalSet(eval_size, num_classes),
    )


def prepare_synthetic_target(
    out: Path,
    classes: list[str],
    *,
    objects_per_class: int,
    num_views: int,
    view_size: int,
    points: int,
    image_size: int,
    samples_per_shard: int,
    test_fraction: float,
    point_layout: str = "xyz",
) -> Path:
    """Prepare a small synthetic target domain (partial scans, no clutter) into shards under ``out``; returns it."""
    from crossmost_data.datasets import get_reader
    from crossmost_data.prepare import prepare_dataset
    from crossmost_data.prepare.config import PrepareConfig

    reader = get_reader(
        "synthetic",
        domain="target",
        objects_per_class=objects_per_class,
        classes=classes,
        num_views=num_views,
        view_size=view_size,
        scan_points=points,
        partiality=0.2,
        clutter=0.0,
        test_fraction=test_fraction,
    )
    config = PrepareConfig(
        points_per_sample=points,
        image_size=image_size,
        num_views=num_views,
        samples_per_shard=samples_per_shard,
        progress=False,
        point_layout=point_layout,  # type: ignore[arg-type]
    )
    assert prepare_dataset(reader, out, out, config).exit_code == 0
    return out
