"""Deprecated: the saved-model folder moved to :mod:`crossmost_models.saved_model` and loading it to
:func:`crossmost_models.from_pretrained` (this module goes in the next release)."""

from __future__ import annotations

from crossmost_models import factory, model, saved_model
from crossmost_models._deprecated import moved_names

__getattr__ = moved_names(
    __name__,
    {
        "from_pretrained": ("crossmost_models", factory.from_pretrained),
        "save_pretrained": ("crossmost_models", model.save_pretrained),
        **{
            name: ("crossmost_models.saved_model", getattr(saved_model, name))
            for name in (
                "CONFIG_FILE",
                "WEIGHTS_FILE",
                "load_model_weights",
                "resolve_saved_model",
                "save_safetensors",
            )
        },
    },
)
