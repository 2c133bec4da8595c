"""String options accepted by the public API, as ``Literal`` aliases (one place for all)."""
from typing import Dict, Literal, Mapping, Union

import numpy as np

Method = Literal["auto", "dense", "local", "bloch", "twisted"]
Boundary = Literal["open", "periodic"]
Number = Union[int, float, complex, np.number]
Hoppings = Mapping[int, Number]
Disorder = Mapping[int, float]

# learning stack (tntopo.nn, tntopo.data, tntopo.study)
Feature = Literal["wavefunctions", "densities", "hamiltonian"]
Target = Literal["label", "W", "exact"]
Kernel = Literal["full", "translation_invariant"]
StateWeights = Literal["per_state", "rank"]
Window = Literal["learned", "profile", "fixed"]
Init = Literal["exact", "random"]

METHODS = ("auto", "dense", "local", "bloch", "twisted")
BOUNDARIES = ("open", "periodic")

__all__ = ["Method", "Boundary", "Feature", "Target", "Kernel", "StateWeights", "Window", "Init", "Number", "Hoppings", "Disorder", "METHODS", "BOUNDARIES", "Dict"]
