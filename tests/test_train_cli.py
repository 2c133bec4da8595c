"""The `tntopo generate / train / evaluate` commands: the workflow, one-line errors, checks before work,
safe model files, Ctrl-C.

(Updated in issue 10/12: the exact TopoNet is now ``--model toponet_exact`` (``--init`` is gone), and the
labels are the exact integer windings, so the exact TopoNet is scored against ``--target w_real``.)"""
import os
import signal
import subprocess
import sys
import time

import pytest

from tntopo.cli import main


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    data = tmp_path_factory.mktemp("cli") / "ds"
    assert main(["generate", str(data), "--n-samples", "40", "--n-cells", "8", "--shard-size", "20",
                 "--executor", "serial", "--disorder", "0,0.5", "--quiet"]) == 0
    return data


def _err(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_generate_train_evaluate(dataset, tmp_path, capsys):
    capsys.readouterr()
    model = tmp_path / "m.pt"
    assert main(["train", str(dataset), "--model", "mlp", "--epochs", "2", "--quiet", "--out", str(model)]) == 0
    assert "validation accuracy" in capsys.readouterr().out
    assert main(["evaluate", str(dataset), "--model-file", str(model)]) == 0
    assert "accuracy=" in capsys.readouterr().out
    assert main(["evaluate", str(dataset), "--model", "toponet_exact", "--target", "w_real", "--lazy"]) == 0
    assert "accuracy=1 " in capsys.readouterr().out


def test_classifier_and_checkpoint(dataset, tmp_path, capsys):
    ck = tmp_path / "run.ckpt"
    assert main(["train", str(dataset), "--model", "mlp", "--epochs", "2", "--quiet", "--loss", "cross_entropy",
                 "--checkpoint", str(ck)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(dataset), "--model-file", str(ck)]) == 0  # a checkpoint: loaded, and said so
    out = capsys.readouterr()
    assert "accuracy=" in out.out and "training checkpoint" in out.err


def test_evaluate_refuses_untrained_and_mismatched_models(dataset, tmp_path, capsys):
    assert main(["evaluate", str(dataset)]) == 2
    assert "--model-file" in _err(capsys)
    assert main(["evaluate", str(dataset), "--model", "mlp"]) == 2
    assert "--untrained" in _err(capsys)
    assert main(["evaluate", str(dataset), "--model", "mlp", "--untrained"]) == 0
    capsys.readouterr()
    model = tmp_path / "m.pt"
    assert main(["train", str(dataset), "--model", "mlp", "--epochs", "1", "--quiet", "--out", str(model),
                 "--features", "densities"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(dataset), "--model-file", str(model), "--features", "wavefunctions"]) == 2
    assert "--features densities" in _err(capsys)
    assert main(["evaluate", str(dataset), "--model-file", str(model)]) == 0  # the recorded features by default
    capsys.readouterr()
    other = tmp_path / "ds12"
    assert main(["generate", str(other), "--n-samples", "8", "--n-cells", "12", "--executor", "serial", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(other), "--model-file", str(model)]) == 2
    assert "--n-cells 8" in _err(capsys)
    (tmp_path / "evil.pt").write_bytes(b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.")
    assert main(["evaluate", str(dataset), "--model-file", str(tmp_path / "evil.pt")]) == 2
    assert "nothing in it was run" in _err(capsys)
    assert main(["evaluate", str(dataset), "--model", "mlp", "--kernel", "full", "--untrained"]) == 2
    assert "--kernel" in _err(capsys)


def test_train_checks_paths_and_lr_first(dataset, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    t0 = time.perf_counter()
    for out in ("afile/m.pt", "adir", "missing/dir/m.pt"):
        assert main(["train", str(dataset), "--model", "mlp", "--epochs", "200", "--quiet",
                     "--out", str(tmp_path / out)]) == 2
        assert "--out" in _err(capsys)
    assert time.perf_counter() - t0 < 5  # refused before any training
    assert main(["train", str(dataset), "--model", "mlp", "--lr", "1e6", "--epochs", "3", "--quiet"]) == 2
    assert "lower --lr" in _err(capsys)
    with pytest.raises(SystemExit) as e:  # argparse's own one-line usage error
        main(["train", str(dataset), "--model", "mlp", "--lr", "-1", "--quiet"])
    assert e.value.code == 2 and "--lr" in capsys.readouterr().err


def test_one_line_errors(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing"), "--model", "toponet_exact"]) == 2
    err = _err(capsys)
    assert err.startswith("tntopo evaluate: error:")
    assert main(["generate", str(tmp_path / "x"), "--n-samples", "4", "--ranges", "0,a", "--quiet"]) == 2
    assert "ranges" in capsys.readouterr().err


@pytest.mark.parametrize("bad, word", [(["--n-cells", "2"], "--n-cells"), (["--windings", "0,1,2"], "unreachable"),
                                       (["--executor", "proces"], "--executor")])
def test_generate_checks_settings_before_writing(tmp_path, capsys, bad, word):
    path = tmp_path / "ds"
    assert main(["generate", str(path), "--n-samples", "4", "--n-cells", "8", "--quiet"] + bad) == 2
    assert word in _err(capsys)
    assert not path.exists()  # nothing written: the corrected rerun is not blocked
    assert main(["generate", str(path), "--n-samples", "4", "--n-cells", "8", "--quiet", "--executor", "serial"]) == 0


@pytest.mark.parametrize("cmd", ["generate", "train", "evaluate"])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "usage" in out
    if cmd != "evaluate":
        assert "(default: 0)" in out or cmd == "generate"
    assert out.count("(default:") >= (8 if cmd == "generate" else 5)


def test_ctrl_c_in_generate_is_prompt_and_writes_nothing_more(tmp_path):
    path = tmp_path / "big"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen([sys.executable, "-m", "tntopo.cli", "generate", str(path), "--n-samples", "3000",
                             "--n-cells", "30", "--shard-size", "100", "--executor", "process", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 300  # a wait, not a timing: the pool's fork server first imports the task's modules
    while time.time() < deadline and not list(path.glob("shard-*.h5")):
        time.sleep(0.05)
    assert list(path.glob("shard-*.h5")), "no shard was written in time"
    proc.send_signal(signal.SIGINT)  # to the main process only: its workers must be stopped by it
    t0 = time.perf_counter()
    _, err = proc.communicate(timeout=60)
    answered = time.perf_counter() - t0
    shards = sorted(p.name for p in path.glob("shard-*.h5"))
    time.sleep(1.0)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert answered < 4.0, answered  # < 2 s on an idle machine; slack for shared CI cores
    assert sorted(p.name for p in path.glob("shard-*.h5")) == shards  # nothing written after it
    assert not list(path.glob("*.part"))
