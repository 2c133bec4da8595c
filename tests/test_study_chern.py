"""The Chern study is a configuration of the study: same rows, seeds, keys and runner as the winding study."""
import pytest

from tntopo.study import ChernStudyConfig, StudyConfig, get_config
from tntopo.study.config import CHERN_FULL, CHERN_QUICK, CHERN_TINY, FULL, TOPO_KINDS


def test_presets_and_protocol():
    assert get_config("quick", study="chern") is CHERN_QUICK
    assert get_config("tiny", study="chern") is CHERN_TINY
    assert get_config("full") is FULL and FULL.kind == "winding" and CHERN_FULL.kind == "chern"
    # the protocol the issue asks for: >= 20 seeds per TopoNet2D row, >= 8 per generic row, rates over >= 3 seeds
    for run in CHERN_FULL.run_names():
        spec, head, _ = CHERN_FULL.spec_of(run)
        assert CHERN_FULL.seeds_of(run) == (20 if spec.kind in TOPO_KINDS else 8)
    assert CHERN_FULL.lr_selection_seeds >= 3
    assert set(CHERN_FULL.heads) == {"regression", "classification"}
    assert CHERN_FULL.classes == (-3, -2, -1, 0, 1, 2, 3)
    assert set(CHERN_FULL.unseen_cherns) == {-3, -2, 2, 3} and CHERN_FULL.size_lengths == (16, 32)
    d = CHERN_FULL.to_dict()
    assert d["study"] == "chern" and FULL.to_dict()["study"] == "winding"


def test_cache_keys_depend_on_what_they_should():
    a, b = CHERN_QUICK, CHERN_QUICK.replace(n_train=999)
    assert a.data_key() != b.data_key() and a.run_key("cnn2d", 1e-3) != b.run_key("cnn2d", 1e-3)
    assert a.run_key("cnn2d", 1e-3) != a.run_key("cnn2d", 3e-3) != a.run_key("cnn2d+ce", 3e-3)
    assert a.data_key() == CHERN_QUICK.replace(epochs=3).data_key()
    assert a.data_key() != FULL.data_key()


@pytest.mark.parametrize("change, match", [
    ({"unseen_cherns": (1, 2)}, "overlap"),
    ({"size_lengths": (8,)}, "larger than n_cells"),
    ({"n_cells": 4}, "too small"),
    ({"max_chern": 2}, "max_chern"),
    ({"why": {"models": ()}}, "not available in the Chern study"),
    ({"seeds": 0}, "seeds must be >= 1"),
    ({"lr_grid": ()}, "lr_grid"),
])
def test_bad_settings_are_named(change, match):
    with pytest.raises(ValueError, match=match):
        ChernStudyConfig(**change)


def test_unknown_study_and_models():
    with pytest.raises(ValueError, match="unknown study"):
        get_config("quick", study="hall")
    with pytest.raises(ValueError, match="unknown model"):
        CHERN_QUICK.replace(models=["topo"])
    assert CHERN_QUICK.replace(models=["cnn2d"]).run_names() == ("cnn2d", "cnn2d+ce")
    with pytest.raises(TypeError):
        ChernStudyConfig(ranges=(0, 1))  # a winding-study setting is not a Chern-study one
    assert isinstance(get_config(FULL), StudyConfig)


def test_cli_takes_the_study(capsys):
    from tntopo.cli import build_parser

    args = build_parser().parse_args(["reproduce", "--study", "chern", "--quick", "--out", "x"])
    assert args.study == "chern"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["reproduce", "--study", "hall", "--out", "x"])
