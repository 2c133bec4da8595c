import subprocess
import sys

import pytest

from tntopo.cli import main, parse_mapping


def test_winding_command(capsys):
    assert main(["winding", "--hoppings", "0:0.5,1:1.0", "--n-cells", "40"]) == 0
    assert capsys.readouterr().out.strip() == "1"
    assert main(["winding", "--hoppings", "0:0.5,1:1.0", "--n-cells", "40", "--method", "dense"]) == 0
    assert abs(float(capsys.readouterr().out) - 1) < 1e-5
    assert main(["winding", "--hoppings", "0:0.5,-1:1.0", "--n-cells", "40", "--boundary", "periodic",
                 "--disorder", "0:0.3", "--method", "twisted"]) == 0
    assert capsys.readouterr().out.strip() == "-1"


def test_winding_command_errors_are_one_line(capsys):
    assert main(["winding", "--hoppings", "0:nan,1:1", "--n-cells", "40"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not finite" in err
    assert main(["winding", "--hoppings", "0:1,1:1", "--n-cells", "40", "--method", "bloch"]) == 2
    assert "gapless" in capsys.readouterr().err


def test_parse_mapping():
    assert parse_mapping("0:0.5, 1:1") == {0: 0.5, 1: 1.0}
    assert parse_mapping("2:0.5+1j") == {2: 0.5 + 1j}
    with pytest.raises(ValueError, match="RANGE:AMPLITUDE"):
        parse_mapping("0=1")


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "tntopo.cli", "winding", "--hoppings", "0:1.0,1:0.4",
                          "--n-cells", "20"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
