"""Typed configuration, presets and overrides."""

from crossmost_train.config.errors import ConfigError as ConfigError
from crossmost_train.config.loading import apply_override as apply_override
from crossmost_train.config.loading import apply_section as apply_section
from crossmost_train.config.loading import config_from_dict as config_from_dict
from crossmost_train.config.loading import config_keys as config_keys
from crossmost_train.config.loading import config_to_dict as config_to_dict
from crossmost_train.config.loading import list_presets as list_presets
from crossmost_train.config.loading import load_config as load_config
from crossmost_train.config.loading import read_config as read_config
from crossmost_train.config.loading import save_config as save_config
from crossmost_train.config.schema import DataConfig as DataConfig
from crossmost_train.config.schema import EmaConfig as EmaConfig
from crossmost_train.config.schema import EvalConfig as EvalConfig
from crossmost_train.config.schema import MemoryConfig as MemoryConfig
from crossmost_train.config.schema import ModelConfig as ModelConfig
from crossmost_train.config.schema import OptimConfig as OptimConfig
from crossmost_train.config.schema import PretrainConfig as PretrainConfig
from crossmost_train.config.schema import RunConfig as RunConfig
from crossmost_train.config.schema import ScheduleConfig as ScheduleConfig
from crossmost_train.config.schema import TrainConfig as TrainConfig
from crossmost_train.config.schema import TrainingObjectiveConfig as TrainingObjectiveConfig
from crossmost_train.config.schema import former_objective_name


def __getattr__(name: str) -> object:
    if name == "ObjectiveConfig":
        return former_objective_name(__name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
