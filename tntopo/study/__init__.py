"""The study "why is topology hard to learn?": configuration, runs and report.

It only configures, runs and reports: the models, their training and the data sets live in
:mod:`tntopo.nn` (:func:`tntopo.nn.build_model`, :func:`tntopo.nn.train`) and :mod:`tntopo.data`
(:func:`tntopo.data.build_eval_sets`).
"""
from .config import ChernStudyConfig, ModelSpec, StudyConfig, get_config
from .reproduce import reproduce

__all__ = ["reproduce", "StudyConfig", "ChernStudyConfig", "ModelSpec", "get_config"]
