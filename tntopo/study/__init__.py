"""The study: training and evaluating models that learn the winding number."""
from .train import History, evaluate, predict, train
from .config import ModelSpec, StudyConfig, get_config
from .reproduce import reproduce

__all__ = ["train", "evaluate", "predict", "History", "reproduce", "StudyConfig", "ModelSpec", "get_config"]
