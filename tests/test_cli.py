import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tntopo.cli import main, parse_mapping


def _value(out: str) -> float:
    m = re.fullmatch(r"W = (\S+)  \(method: (\w+), (exact integer|real-space bulk average)\)", out.strip())
    assert m, out
    return float(m.group(1))


def test_winding_command(capsys):
    assert main(["winding", "--hoppings", "0:0.5,1:1.0", "--n-cells", "40"]) == 0
    assert capsys.readouterr().out.strip() == "W = 1  (method: bloch, exact integer)"
    assert main(["winding", "--hoppings", "0:0.5,1:1.0", "--n-cells", "40", "--method", "dense"]) == 0
    out = capsys.readouterr().out
    assert abs(_value(out) - 1) < 1e-5 and "method: dense, real-space" in out
    assert main(["winding", "--hoppings", "0:0.5,-1:1.0", "--n-cells", "40", "--boundary", "periodic",
                 "--disorder", "0:0.3"]) == 0  # auto on a disordered ring: twisted
    assert capsys.readouterr().out.strip() == "W = -1  (method: twisted, exact integer)"


def test_winding_json_matches_the_library(capsys):
    import tntopo

    assert main(["winding", "--hoppings", "0:0.5,1:1.0", "--n-cells", "40", "--method", "dense", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    W = tntopo.winding_number(tntopo.SSHChain({0: 0.5, 1: 1.0}, 40), method="dense")
    assert d["winding_number"] == W and d["method"] == "dense" and d["exact_integer"] is False
    assert d["gapless"] is False and d["warnings"] == []


def test_negative_ranges_need_no_equals_sign(capsys):
    """argparse would read ``-1:1.0,...`` as an option; the CLI joins it to its flag."""
    assert main(["winding", "--hoppings", "-1:1.0,0:0.5", "--n-cells", "40"]) == 0
    assert capsys.readouterr().out.strip() == "W = -1  (method: bloch, exact integer)"
    assert main(["winding", "--n-cells", "40", "--hoppings", "-1:1.0,0:0.5", "--method", "dense"]) == 0
    assert abs(_value(capsys.readouterr().out) + 1) < 1e-5


def test_a_range_given_twice_is_an_error(capsys):
    assert main(["winding", "--hoppings", "0:0.5,0:1.0", "--n-cells", "40"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "range 0 is given twice in --hoppings" in err
    with pytest.raises(ValueError, match="given twice"):
        parse_mapping("1:0.5, 1:0.2")


def test_gapless_warning_is_one_readable_line(capsys):
    assert main(["winding", "--hoppings", "0:1,1:1", "--n-cells", "40"]) == 0
    out, err = capsys.readouterr()
    assert "method: dense, real-space bulk average" in out  # auto fell back to real space
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tntopo winding: warning:") and "gapless" in lines[0]
    assert ".py" not in err and "GaplessWarning" not in err


def test_library_errors_speak_in_flags(capsys):
    assert main(["winding", "--hoppings", "0:1,1:0.5", "--n-cells", "40", "--method", "twisted"]) == 2
    err = capsys.readouterr().err
    assert "--boundary periodic" in err and "with_boundary" not in err and "method=" not in err


def test_cli_terms_translation():
    from tntopo.cli import _cli_terms, build_parser

    sub = {a.dest: a for a in build_parser()._actions if a.dest == "command"}["command"].choices
    assert _cli_terms("use another path or overwrite=True", sub["generate"]) == "use another path or --overwrite"
    assert _cli_terms("pass resume=False", sub["reproduce"], "reproduce") == "pass --no-resume"
    assert (_cli_terms("use features='densities' or kernel='translation_invariant'", sub["train"])
            == "use --features densities or --kernel translation_invariant")
    assert _cli_terms("use chain.with_boundary('periodic')", sub["winding"]) == "use --boundary periodic"
    # reprs keep their Python spelling; names without a flag are left alone
    assert _cli_terms("SSHChain(n_cells=40, boundary='open') fails", sub["winding"]) == \
        "SSHChain(n_cells=40, boundary='open') fails"
    assert _cli_terms("give tol=1e-3", sub["winding"]) == "give tol=1e-3"


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
    assert out.stdout.strip() == "W = 0  (method: bloch, exact integer)"


OWNED = ["winding", "phase-diagram", "reproduce", "bench"]


def _subparsers():
    from tntopo.cli import build_parser

    return next(a for a in build_parser()._actions if a.dest == "command").choices


@pytest.mark.parametrize("name", OWNED)
def test_help_shows_every_option_meaning_and_default(name, monkeypatch):
    parser = _subparsers()[name]
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help, f"tntopo {name} {action.option_strings or action.dest} has no help text"
        shown = " ".join(parser._get_formatter()._expand_help(action).split())
        assert shown in text
        if action.default not in (None, False) and action.option_strings:
            assert f"default: {action.default}" in shown, shown


def test_phase_diagram_refuses_to_compute_what_it_would_not_keep(capsys):
    assert main(["phase-diagram", "--quick", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "--data" in err


@pytest.mark.parametrize("argv, expected", [
    (["--x-param", "t7"], "choose one of t0, t1, W0, W1, W"),
    (["--y-param", "q"], "unknown --y-param 'q'"),
    (["--x-param", "W", "--y-param", "W"], "both 'W'"),
    (["--executor", "proces"], "unknown --executor 'proces'"),
    (["--hoppings", "0:1,0:2"], "range 0 is given twice in --hoppings"),
    (["--out", "pd.xyz"], "unknown figure format 'xyz'"),
    (["--method", "twisted", "--boundary", "open"], "--boundary periodic"),
])
def test_phase_diagram_argument_errors(argv, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["phase-diagram", "--quick", "--quiet", "--executor", "serial", "--out", "pd.png"] + argv
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "pd.png").exists()


def test_negative_grid_values_need_no_equals_sign(tmp_path, capsys):
    data = tmp_path / "pd.json"
    assert main(["phase-diagram", "--x", "-1.5:-0.5:2", "--y", "0,1", "--x-param", "t0", "--quick", "--quiet",
                 "--executor", "serial", "--data", str(data)]) == 0
    assert json.loads(data.read_text())["x"] == [-1.5, -0.5]


def test_bad_output_paths_fail_before_any_work(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = [
        (["phase-diagram", "--quick", "--out", str(afile / "pd.png")], "is a file, not a directory"),
        (["phase-diagram", "--quick", "--out", str(tmp_path)], "is a directory"),
        (["phase-diagram", "--quick", "--data", str(tmp_path / "missing" / "pd.json")], "does not exist"),
        (["phase-diagram", "--quick", "--store", str(afile)], "is a file, not a directory"),
        (["reproduce", "--preset", "tiny", "--out", str(afile)], "is a file, not a directory"),
        (["reproduce", "--preset", "tiny", "--out", str(afile / "sub")], "is a file, not a directory"),
        (["reproduce", "--preset", "tiny", "--out", str(tmp_path / "r"), "--models", "nope"], "--models nope"),
    ]
    for argv, expected in cases:
        t = time.perf_counter()
        assert main(argv + ["--quiet"]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err and "Traceback" not in err, (argv, err)
        assert time.perf_counter() - t < 5, f"{argv} did work before failing"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_directory(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert main(["phase-diagram", "--quick", "--quiet", "--out", str(ro / "pd.png")]) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        ro.chmod(0o700)


def test_os_errors_are_one_line(monkeypatch, capsys):
    """An OS error raised during the work (not caught by the checks) is still one line, no traceback."""
    import tntopo.cli as cli

    for exc in [FileExistsError(17, "File exists", "out/x"), IsADirectoryError(21, "Is a directory", "adir"),
                NotADirectoryError(20, "Not a directory", "afile/x"), PermissionError(13, "Permission denied", "/x")]:
        def boom(args, exc=exc):
            raise exc
        monkeypatch.setattr(cli, "_cmd_bench", boom)
        assert main(["bench", "--list"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and repr(exc.filename) in err and "Errno" not in err


def test_ctrl_c_exits_130_quickly_and_writes_nothing(tmp_path):
    """SIGINT (as a terminal's Ctrl-C, to the process group) while a phase diagram runs."""
    out, data = tmp_path / "pd.png", tmp_path / "pd.json"
    env = dict(os.environ, MPLBACKEND="Agg")
    p = subprocess.Popen([sys.executable, "-m", "tntopo.cli", "phase-diagram", "--x", "0:2:41", "--y", "0:5:41",
                          "--n-cells", "400", "--n-realizations", "50", "--executor", "process", "--workers", "2",
                          "--out", str(out), "--data", str(data)],
                         stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True,
                         # a suite started as a background job inherits SIGINT ignored (POSIX), and Python
                         # then installs no KeyboardInterrupt handler: give the child a terminal's default
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert "phase diagram" in p.stderr.read(40)  # the progress bar: the work has started
        t = time.perf_counter()
        os.killpg(p.pid, signal.SIGINT)
        rc = p.wait(timeout=30)
        took = time.perf_counter() - t
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert rc == 130 and "interrupted" in p.stderr.read()
    assert took < 3.0, took  # well under 1 s measured at load average 14 on 2 cores; slack for CI
    assert list(tmp_path.iterdir()) == []


def test_local_method_shows_progress(capsys):
    assert main(["winding", "--hoppings", "0:0.5,1:1.0", "--n-cells", "3000", "--method", "local"]) == 0
    out, err = capsys.readouterr()
    assert "method: local, real-space bulk average" in out and abs(_value(out) - 1) < 1e-6
    assert "local windows" in err  # the tqdm bar of the local route
    assert main(["winding", "--hoppings", "0:0.5,1:1.0", "--n-cells", "3000", "--method", "local", "--quiet"]) == 0
    assert "local windows" not in capsys.readouterr().err


def test_paths_are_checked_before_work_and_parents_never_created(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cases = [
        (["generate", str(tmp_path / "missing" / "dir" / "x"), "--n-samples", "4"], "mkdir -p"),
        (["train", "data", "--out", "models/topo.pt"], "directory 'models' does not exist; create it first"),
        (["train", "data", "--checkpoint", "runs/topo.pt"], "mkdir -p runs"),
        (["phase-diagram", "--quick", "--store", "a/b/store"], "mkdir -p a/b"),
        (["generate", "x", "--n-samples", "4", "--min-gap", "5"], "unreachable"),
    ]
    if os.path.isdir("/proc/self") and sys.platform.startswith("linux"):  # writable by permission bits as root
        cases.append((["phase-diagram", "--quick", "--out", "/proc/f.png"], "'/proc' is not writable"))
    for argv, expected in cases:
        t = time.perf_counter()
        assert main(argv + ["--quiet"]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err and "Traceback" not in err, (argv, err)
        assert time.perf_counter() - t < 5, f"{argv} did work before failing"
    assert list(tmp_path.iterdir()) == []  # nothing created, no meta.json left
    for bad in ("-1", "nan", "inf"):
        with pytest.raises(SystemExit) as info:
            main(["generate", "x", "--n-samples", "4", "--min-gap", bad])
        assert info.value.code == 2
        assert "--min-gap: must be a finite number >= 0" in capsys.readouterr().err


def test_dense_routes_too_large_for_memory_are_refused_with_the_route_to_use(capsys, monkeypatch):
    import tntopo
    import tntopo._memory as mem

    monkeypatch.setattr(mem, "available_memory", lambda: 10 * 2**20)  # 10 MiB: N = 1000 dense needs ~61 MiB
    chain = tntopo.SSHChain({0: 0.5, 1: 1.0}, n_cells=1000, disorder={0: 0.2}, seed=1)
    for call in (lambda: tntopo.winding_number(chain, method="dense"), lambda: tntopo.winding_number(chain.hopping_block()),
                 lambda: tntopo.local_winding_marker(chain),
                 lambda: tntopo.winding_number(tntopo.sample_chains(2, 1000, disorder={0: 0.1}), method="dense")):
        with pytest.raises(ValueError, match=r"needs about .* GiB .* use method='local'"):
            call()
    assert tntopo.local_winding_marker(chain, [500], method="local")[0] == pytest.approx(1, abs=0.1)  # O(N) route runs
    assert main(["winding", "--hoppings", "0:0.5,1:1", "--n-cells", "1000", "--method", "dense"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "use --method local" in err
    assert main(["chern", "--shape", "30,30", "--method", "marker"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1800 states" in err and "use --method local" in err
    monkeypatch.undo()
    assert mem.available_memory() is None or mem.available_memory() > 2**20


_PARSE_ONLY = r"""
import sys
from tntopo.cli import build_parser, _join_dash_values
parser = build_parser()
for argv in ARGVS:
    parser.parse_args(_join_dash_values(argv, parser))
for name in ("", "winding", "phase-diagram", "generate", "reproduce", "bench"):
    (parser if not name else next(a for a in parser._actions if hasattr(a, "choices") and a.choices and name in a.choices).choices[name]).format_help()
heavy = sorted(m for m in ("torch", "numpy", "scipy", "matplotlib", "h5py", "quimb", "numba") if m in sys.modules)
print(",".join(heavy))
"""


def test_parsing_imports_nothing_heavy():
    """``--help``, ``--version`` and argument errors answer before torch/numpy are imported: the
    parser of every subcommand is built, and typical command lines parsed, without them."""
    argvs = [["winding", "--hoppings", "-1:1.0,0:0.5", "--n-cells", "40"], ["phase-diagram", "--quick", "--out", "x.png"],
             ["generate", "d", "--n-samples", "10", "--min-gap", "0.1"], ["train", "d", "--epochs", "3", "--lr", "1e-2"],
             ["evaluate", "d", "--model-file", "m.pt"], ["reproduce", "--quick", "--out", "r"], ["bench", "--list"],
             ["chern", "--shape", "10,10", "--m", "1.5"]]
    code = _PARSE_ONLY.replace("ARGVS", repr(argvs))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "", f"parsing imported {proc.stdout.strip()}"
    for args in (["--version"], ["windng"], ["winding", "--n-cells", "x"], ["generate", "d", "--min-gap", "-1"]):
        code = ("import sys\nfrom tntopo.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
                "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, sorted(sys.modules)" % (args,))
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (args, proc.stderr[-2000:])


def test_lazy_choices_still_check_and_list_their_values(capsys):
    with pytest.raises(SystemExit):
        main(["train", "d", "--model", "mlpp"])
    err = capsys.readouterr().err
    assert "invalid choice: 'mlpp'" in err and "'mlp'" in err and "'toponet'" in err
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "toponet_exact:" in out and "wavefunctions" in out and "--device DEVICE" in out
    with pytest.raises(SystemExit):
        main(["chern", "--method", "nope"])
    assert "'fhs'" in capsys.readouterr().err


def test_device_flag_is_checked_before_work(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for argv in (["train", str(tmp_path / "missing"), "--device", "cuda"],
                 ["evaluate", str(tmp_path / "missing"), "--model", "toponet_exact", "--device", "cuda"]):
        assert main(argv + ["--quiet"] * (argv[0] == "train")) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--device cuda" in err and "use --device cpu" in err, err
    assert main(["reproduce", "--preset", "tiny", "--out", str(tmp_path / "r"), "--device", "bogus"]) == 2
    assert "--device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


_INTERRUPTED_AT = r"""
import sys
import tntopo.cli as cli


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


setattr(cli, WHERE, interrupt)
sys.argv = ["tntopo", "train", "data", "--quiet"]
sys.exit(cli.main())
"""


@pytest.mark.parametrize("where, line", [("build_parser", "tntopo: interrupted"),
                                         ("_cmd_train", "tntopo train: interrupted")])
def test_ctrl_c_while_starting_is_one_line(where, line):
    """Ctrl-C while the command parses its arguments, or imports torch before its work, exits 130 with
    one line and no traceback (the two places a KeyboardInterrupt lands in the first seconds)."""
    code = _INTERRUPTED_AT.replace("WHERE", repr(where))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130 and proc.stderr == line + "\n", (proc.returncode, proc.stderr)
