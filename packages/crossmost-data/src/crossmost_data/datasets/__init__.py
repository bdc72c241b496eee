"""Dataset readers: one registry, one reader per raw layout, all producing ``SourceItem`` objects.

Built-in readers (``list_readers()``) and their options (``get_reader(name, **options)``):

- ``modelnet40``, ``modelnet10``: ``views_root``, ``num_views`` (12), ``strict_counts`` (True);
- ``modelnet40-depth``: ``use_given_views`` (True), ``strict_counts`` (True);
- ``scanobjectnn``: ``variant`` (``"obj-only"``, ``"obj-bg"``, ``"hardest"``), ``use_given_views``, ``strict_counts``;
- ``scanobjectnn-openshape``: ``strict_counts`` (OpenShape's 2,890-object test file,
  :mod:`crossmost_data.datasets.scanobjectnn_openshape`);
- ``shapenet55``: ``pc_root``, ``image_root``, ``image_kind`` (``"rgb"``), ``num_views`` (10), ``strict_counts``;
- ``redwood``: ``num_frames`` (10), ``points_dir``, ``frames_dir``, ``categories``, ``test_fraction`` (0.2),
  ``swap_xy`` (False);
- ``co3d``: ``num_frames`` (10), ``test_fraction`` (0.2), ``split_dir``, ``swap_xy`` (``"auto"``);
- ``folder``: ``up_axis`` (``"y"``), ``test_fraction`` (0), ``view_source`` (``"render"``), ``classes_file``,
  ``extra_columns`` (``"auto"``);
- ``objaverse``: ``classes`` (default: the LVIS categories); ``objaverse-lvis``: no option
  (:mod:`crossmost_data.datasets.objaverse`);
- ``synthetic`` (:mod:`crossmost_data.datasets.synthetic`): ``domain``, ``objects_per_class`` and the knobs of
  :class:`~crossmost_data.datasets.synthetic.SyntheticReader`.
"""

from __future__ import annotations

from crossmost_data.datasets._layout import LayoutWarning as LayoutWarning
from crossmost_data.datasets.co3d import Co3DReader as Co3DReader
from crossmost_data.datasets.folder import FolderReader as FolderReader
from crossmost_data.datasets.modelnet import ModelNet10Reader as ModelNet10Reader
from crossmost_data.datasets.modelnet import ModelNet40Reader as ModelNet40Reader
from crossmost_data.datasets.modelnet40_depth import ModelNet40DepthReader as ModelNet40DepthReader
from crossmost_data.datasets.objaverse import ObjaverseLvisReader as ObjaverseLvisReader
from crossmost_data.datasets.objaverse import ObjaverseReader as ObjaverseReader
from crossmost_data.datasets.point_files import read_point_file as read_point_file
from crossmost_data.datasets.redwood import RedwoodReader as RedwoodReader
from crossmost_data.datasets.registry import DatasetLayoutError as DatasetLayoutError
from crossmost_data.datasets.registry import DatasetReader as DatasetReader
from crossmost_data.datasets.registry import ViewSource as ViewSource
from crossmost_data.datasets.registry import get_reader as get_reader
from crossmost_data.datasets.registry import list_readers as list_readers
from crossmost_data.datasets.registry import register_reader as register_reader
from crossmost_data.datasets.scanobjectnn import ScanObjectNNReader as ScanObjectNNReader
from crossmost_data.datasets.scanobjectnn_openshape import (
    OpenShapeScanObjectNNReader as OpenShapeScanObjectNNReader,
)
from crossmost_data.datasets.shapenet55 import ShapeNet55Reader as ShapeNet55Reader
from crossmost_data.datasets.synthetic.reader import SyntheticReader as SyntheticReader

__all__ = [
    "Co3DReader",
    "DatasetLayoutError",
    "DatasetReader",
    "FolderReader",
    "LayoutWarning",
    "ModelNet10Reader",
    "ModelNet40DepthReader",
    "ModelNet40Reader",
    "ObjaverseLvisReader",
    "ObjaverseReader",
    "OpenShapeScanObjectNNReader",
    "RedwoodReader",
    "ScanObjectNNReader",
    "ShapeNet55Reader",
    "SyntheticReader",
    "ViewSource",
    "get_reader",
    "list_readers",
    "read_point_file",
    "register_reader",
]

register_reader("modelnet40", ModelNet40Reader)
register_reader("modelnet10", ModelNet10Reader)
register_reader("modelnet40-depth", ModelNet40DepthReader)
register_reader("scanobjectnn", ScanObjectNNReader)
register_reader("scanobjectnn-openshape", OpenShapeScanObjectNNReader)
register_reader("shapenet55", ShapeNet55Reader)
register_reader("redwood", RedwoodReader)
register_reader("co3d", Co3DReader)
register_reader("folder", FolderReader)
register_reader("objaverse", ObjaverseReader)
register_reader("objaverse-lvis", ObjaverseLvisReader)
register_reader("synthetic", SyntheticReader)
