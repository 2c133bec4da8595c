"""The `tntopo generate / train / evaluate` commands."""
import pytest

from tntopo.cli import main


def test_generate_train_evaluate(tmp_path, capsys):
    data = tmp_path / "ds"
    assert main(["generate", str(data), "--n-samples", "40", "--n-cells", "8", "--shard-size", "20",
                 "--executor", "serial", "--disorder", "0,0.5", "--quiet"]) == 0
    assert "wrote 40 samples" in capsys.readouterr().out
    model = tmp_path / "m.pt"
    assert main(["train", str(data), "--model", "mlp", "--epochs", "2", "--quiet", "--out", str(model)]) == 0
    assert "validation accuracy" in capsys.readouterr().out
    assert main(["evaluate", str(data), "--model-file", str(model)]) == 0
    assert "accuracy=" in capsys.readouterr().out
    assert main(["evaluate", str(data), "--model", "toponet", "--init", "exact", "--lazy"]) == 0
    assert "accuracy=1 " in capsys.readouterr().out


def test_one_line_errors(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tntopo evaluate: error:") and err.count("\n") == 1
    assert main(["generate", str(tmp_path / "x"), "--n-samples", "4", "--ranges", "0,a", "--quiet"]) == 2
    assert "ranges" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", ["generate", "train", "evaluate"])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0 and "usage" in capsys.readouterr().out
