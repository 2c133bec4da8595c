"""Exceptions and warnings raised by tntopo.

Every error about the input is a :class:`ValueError` subclass (or a plain ``ValueError``) whose
message names the problem and the fix, so user code can catch ``ValueError`` for any bad input.
The one exception is :class:`PrecisionError`, an :class:`ArithmeticError`: the input was fine
but a numerical route could not *certify* its exact integer (it raises instead of returning an
unproven number).
"""

__all__ = ["ChiralSymmetryError", "GaplessError", "GaplessWarning", "PrecisionError"]


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


class PrecisionError(ArithmeticError):
    """An exact-integer route could not certify its integer in floating point.

    Raised (instead of returning a number) when the numerical evidence for the integer is
    inconsistent: the twisted-boundary determinants disagree with a Laurent polynomial beyond
    the noise that a Rouche certificate tolerates, or two independent zero counts of a Bloch
    polynomial disagree. The system is not known to be gapless. Fix: use ``method="dense"``
    (the real-space trace), or rescale the hoppings to order one.

    A subclass of :class:`ArithmeticError`, not :class:`ValueError`: nothing is wrong with the
    input, so code that catches ``ValueError`` for bad input does not swallow it.
    """
