"""The embedded synthetic benchmark: procedural 3D objects in a clean source domain and a scan-like target domain.

Nothing here is downloaded; every object is generated on demand from ``(seed, domain, class, index)``, in a few
milliseconds, so the whole Cross-MoST demo runs offline on a laptop.

Classes. Twelve everyday object classes with names a text tower can learn from captions: airplane, bed, bench,
bookshelf, bottle, car, chair, guitar, lamp, mug, sofa, table (:data:`SYNTHETIC_CLASSES`). Each class is a small
program over trimesh primitives (boxes, rods, lathed profiles, cones, tori) whose proportions, part counts and styles
are drawn per object: chairs with four legs, a pedestal or sled frames, solid or slatted backs, with or without arms;
tables with rectangular or round tops on legs, a pedestal or trestles; airplanes with swept wings and zero to four
engines; cars as sedans, vans or pickups; and so on. Classes differ in silhouette and part layout, so they stay
separable in a 32–64 pixel view and in 512–1024 points, while each class still has a spread of shapes. Colours are
drawn per object from a palette that ignores the class, so colour is never a shortcut.

Source domain (the ShapeNet/ModelNet of this world). Clean, closed, aligned meshes (y up, front towards +z) with
per-face colours. The preparation pipeline renders their views (``view_source = "render"``) and samples points
uniformly on their surfaces.

Target domain (the ScanObjectNN of this world). A different set of objects of the same classes, each turned into a
scan by :func:`make_scan`: seen from one to three viewpoints (hidden surfaces missing), sometimes cut by a plane,
with uneven density, Gaussian noise and outliers, surrounded by clutter (a floor patch, sometimes a wall, distractor
blobs) and rotated about the up axis. Its views come with the item (``view_source = "given"``): by default
depth projections of the scan itself (dark, shaded by depth, floor and clutter included: nothing like the coloured
renders), or optionally renders in another style (washed-out colours, dim light, dark background). The shift hits
both modalities, so a model trained on the source loses accuracy on the target; but every scan keeps most of its
object's shape, so the class can still be told, which is what self-training on unlabelled target data exploits.
The knobs ``partiality``, ``noise`` and ``clutter`` set how hard the target is.

Splits. Each domain has ``train`` and ``test``; the last ``round(objects_per_class × test_fraction)`` objects of each
class are the test split. Items have uids ``<domain>-<class>-<index>``; their ``load`` is picklable.

Use it through the reader registry (``get_reader("synthetic", domain="target", objects_per_class=50)``) or the
command line (``crossmost-data synth --domain target --out DIR``).
"""

from crossmost_data.datasets.synthetic.reader import SyntheticItemSpec as SyntheticItemSpec
from crossmost_data.datasets.synthetic.reader import SyntheticReader as SyntheticReader
from crossmost_data.datasets.synthetic.reader import load_synthetic_item as load_synthetic_item
from crossmost_data.datasets.synthetic.scan import make_scan as make_scan
from crossmost_data.datasets.synthetic.scan import visible_mask as visible_mask
from crossmost_data.datasets.synthetic.shapes import SHAPES_VERSION as SHAPES_VERSION
from crossmost_data.datasets.synthetic.shapes import SYNTHETIC_CLASSES as SYNTHETIC_CLASSES
from crossmost_data.datasets.synthetic.shapes import generate_shape as generate_shape

__all__ = [
    "SHAPES_VERSION",
    "SYNTHETIC_CLASSES",
    "SyntheticItemSpec",
    "SyntheticReader",
    "generate_shape",
    "load_synthetic_item",
    "make_scan",
    "visible_mask",
]
