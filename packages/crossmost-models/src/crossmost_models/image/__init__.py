"""The maskable open_clip image tower and its layer ids for layer-wise lr decay."""

from crossmost_models.image.layer_decay import vit_layer_id as vit_layer_id
from crossmost_models.image.tower import MaskableVisionTower as MaskableVisionTower
from crossmost_models.image.tower import VisionTowerOutput as VisionTowerOutput

__all__ = ["MaskableVisionTower", "VisionTowerOutput", "vit_layer_id"]
