"""Exceptions and warnings raised by tntopo.

Every error is a :class:`ValueError` subclass (or a plain ``ValueError``) whose message names
the problem and the fix, so user code can catch ``ValueError`` for any bad input.
"""

__all__ = ["ChiralSymmetryError", "GaplessError", "GaplessWarning"]


class ChiralSymmetryError(ValueError):
    """A Hamiltonian is not chiral: its A-A or B-B block is non-zero, or A and B differ in size."""


class GaplessError(ValueError):
    """An exact-integer method (``"bloch"``, ``"twisted"``) met a gapless system.

    The winding number is not defined at a phase transition; move the parameters away from it
    or use a real-space method (``"dense"``/``"local"``), which returns a number with a
    :class:`GaplessWarning`.
    """


class GaplessWarning(UserWarning):
    """A real-space winding number was returned for a (nearly) gapless or too short system.

    The value is then not a quantized invariant: it is reported, but should not be trusted
    as an integer.
    """
