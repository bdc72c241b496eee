"""Imported first by :mod:`crossmost_data.loader`: without the ``torch`` extra, the error names it."""

from crossmost_data._extras import import_extra

__all__: list[str] = []

for _module in ("torch", "timm", "scipy"):
    import_extra(_module, extra="torch", feature="the loaders (crossmost_data.loader)")
