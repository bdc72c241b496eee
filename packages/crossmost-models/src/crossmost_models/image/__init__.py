"""The open_clip image towers (maskable, and plain for towers that cannot be masked) and their layer ids for
layer-wise lr decay."""

from crossmost_models.image.layer_decay import vit_layer_id as vit_layer_id
from crossmost_models.image.plain_tower import PlainVisionTower as PlainVisionTower
from crossmost_models.image.tower import MaskableVisionTower as MaskableVisionTower
from crossmost_models.image.tower import VisionTowerOutput as VisionTowerOutput

__all__ = ["MaskableVisionTower", "PlainVisionTower", "VisionTowerOutput", "vit_layer_id"]
