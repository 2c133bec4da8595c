"""String options accepted by the public API, as ``Literal`` aliases (one place for all)."""
from typing import Dict, Literal, Mapping, Union

import numpy as np

Method = Literal["auto", "dense", "local", "bloch", "twisted"]
Boundary = Literal["open", "periodic"]
Number = Union[int, float, complex, np.number]
Hoppings = Mapping[int, Number]
Disorder = Mapping[int, float]

METHODS = ("auto", "dense", "local", "bloch", "twisted")
BOUNDARIES = ("open", "periodic")

__all__ = ["Method", "Boundary", "Number", "Hoppings", "Disorder", "METHODS", "BOUNDARIES", "Dict"]
