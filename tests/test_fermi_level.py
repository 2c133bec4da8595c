"""The Fermi level of every Chern route is checked by the one check of real parameters
(``tntopo.systems.lattice2d.check_real``, issue 20: no duplicate validator)."""
import numpy as np
import pytest

from tntopo import Lattice2D, chern_number, local_chern_marker
from tntopo.invariants.chern.dense import _check_fermi
from tntopo.systems.lattice2d import check_real

BAD = [(float("nan"), "fermi_level = nan must be finite"), (float("inf"), "fermi_level = inf must be finite"),
       ("zero", "fermi_level must be a real number, got 'zero'"), (1j, "fermi_level must be a real number"),
       (None, "fermi_level must be a real number, got None")]


@pytest.mark.parametrize("value, message", BAD)
def test_check_fermi_is_check_real(value, message):
    with pytest.raises(ValueError, match=message) as a:
        _check_fermi(value)
    with pytest.raises(ValueError) as b:
        check_real("fermi_level", value)
    assert str(a.value) == str(b.value)


@pytest.mark.parametrize("value, message", BAD[:3])
@pytest.mark.parametrize("call", [
    lambda ef: chern_number(Lattice2D.qwz(1.0, (6, 6), boundary="periodic"), method="fhs", fermi_level=ef),
    lambda ef: chern_number(Lattice2D.qwz(1.0, (6, 6), boundary="periodic"), method="bott", fermi_level=ef),
    lambda ef: local_chern_marker(Lattice2D.qwz(1.0, (6, 6)), fermi_level=ef),
], ids=["fhs", "bott", "marker"])
def test_public_routes_name_a_bad_fermi_level(call, value, message):
    with pytest.raises(ValueError, match=message):
        call(value)


def test_good_fermi_levels_pass_through():
    assert _check_fermi(np.float32(0.5)) == 0.5 and type(_check_fermi(1)) is float
    qwz = Lattice2D.qwz(1.0, (8, 8), boundary="periodic")
    assert chern_number(qwz, method="fhs", fermi_level=np.float64(0.0)) == chern_number(qwz, method="fhs") == 1
