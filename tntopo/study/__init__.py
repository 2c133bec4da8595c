"""The study "why is topology hard to learn?": configuration, runs, report and figures.

It only configures, runs and reports: the models, their training and the data sets live in
:mod:`tntopo.nn` (:func:`tntopo.nn.build_model`, :func:`tntopo.nn.train`) and :mod:`tntopo.data`
(:func:`tntopo.data.build_eval_sets`). Its figures (:mod:`tntopo.study.figures`) read the
``results.json`` that :func:`reproduce` writes.
"""
from .config import ChernStudyConfig, ModelSpec, StudyConfig, get_config
from .compare import compare_studies
from .figures import (plot_comparison, plot_disorder_accuracy, plot_landscape, plot_pruning, plot_toponet_weights,
                      plot_trainability, plot_trainability_map, plot_training_curves)
from .reproduce import reproduce
from . import chern_why  # noqa: F401 - registers the Chern study's part of the causal test (tntopo.study.why)

__all__ = ["reproduce", "StudyConfig", "ChernStudyConfig", "ModelSpec", "get_config", "plot_disorder_accuracy",
           "plot_trainability", "plot_trainability_map", "plot_landscape", "plot_pruning", "plot_toponet_weights",
           "plot_training_curves", "compare_studies", "plot_comparison"]
