"""The official class lists, in the order of the official Cross-MoST code (the index of a name is its label).

Names are kept verbatim (``night_stand``, ``trash container``); turning them into prompt text is the job of
``crossmost_models.clean_class_name``.
"""

from __future__ import annotations

__all__ = [
    "CO3D_CLASSES",
    "MODELNET10_CLASSES",
    "MODELNET40_CLASSES",
    "REDWOOD_CLASSES",
    "SCANOBJECTNN_CLASSES",
    "SHAPENET55_NAME_FIXES",
]

# Alphabetical, as the folders of ModelNet40.zip sort.
MODELNET40_CLASSES: tuple[str, ...] = (
    "airplane", "bathtub", "bed", "bench", "bookshelf", "bottle", "bowl", "car", "chair", "cone",
    "cup", "curtain", "desk", "door", "dresser", "flower_pot", "glass_box", "guitar", "keyboard", "lamp",
    "laptop", "mantel", "monitor", "night_stand", "person", "piano", "plant", "radio", "range_hood", "sink",
    "sofa", "stairs", "stool", "table", "tent", "toilet", "tv_stand", "vase", "wardrobe", "xbox",
)  # fmt: skip

MODELNET10_CLASSES: tuple[str, ...] = (
    "bathtub", "bed", "chair", "desk", "dresser", "monitor", "night_stand", "sofa", "table", "toilet",
)  # fmt: skip

# The order of ScanObjectNN's label ids (0 = bag ... 14 = toilet).
SCANOBJECTNN_CLASSES: tuple[str, ...] = (
    "bag", "bin", "box", "cabinet", "chair", "desk", "display", "door", "shelf", "table",
    "bed", "pillow", "sink", "sofa", "toilet",
)  # fmt: skip

REDWOOD_CLASSES: tuple[str, ...] = (
    "chair", "table", "trash container", "bench", "plant", "sign", "bicycle", "motorcycle", "sofa",
)  # fmt: skip

CO3D_CLASSES: tuple[str, ...] = (
    "bench", "skateboard", "backpack", "laptop", "cup", "umbrella", "teddybear", "bowl", "cake", "toyplane",
    "remote", "orange", "toaster", "couch", "apple", "bottle", "donut", "hairdryer", "hydrant", "toytrain",
    "pizza", "motorcycle", "suitcase", "banana", "toilet", "sandwich", "keyboard", "mouse", "toytruck", "handbag",
    "broccoli", "wineglass", "microwave", "baseballglove", "book", "carrot", "ball", "bicycle", "chair", "stopsign",
    "vase", "plant",
)  # fmt: skip

# ULIP's ShapeNet-55 names: the first synonym of the taxonomy name, with these three replaced.
SHAPENET55_NAME_FIXES: dict[str, str] = {"display": "monitor", "vessel": "ship", "ashcan": "trashcan"}
