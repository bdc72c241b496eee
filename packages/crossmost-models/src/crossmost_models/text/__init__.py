"""Prompt templates, class-name cleaning and text-tower encoding for the shared classifier."""

from crossmost_models.text.classnames import clean_class_name as clean_class_name
from crossmost_models.text.classnames import clean_class_names as clean_class_names
from crossmost_models.text.encoding import build_classifier_weights as build_classifier_weights
from crossmost_models.text.templates import list_template_sets as list_template_sets
from crossmost_models.text.templates import load_templates as load_templates
from crossmost_models.text.templates import resolve_templates as resolve_templates

__all__ = [
    "build_classifier_weights",
    "clean_class_name",
    "clean_class_names",
    "list_template_sets",
    "load_templates",
    "resolve_templates",
]
