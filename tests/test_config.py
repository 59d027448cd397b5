"""Configuration as data: presets, YAML, key=value overrides, validation and the canonical hash."""

import re

import pytest

from lspd_bench.config import RunConfig, config_hash, load_config, parse_overrides, preset_names, replace
from lspd_bench.errors import InputError
from lspd_bench.train.build import identity, run_id


def test_overrides_are_typed_like_yaml():
    assert parse_overrides(["stages=3", "alpha=0.5", "block=lmrb", "input_size=[256,192]", "flip_test=false"]) == {
        "stages": 3,
        "alpha": 0.5,
        "block": "lmrb",
        "input_size": (256, 192),
        "flip_test": False,
    }


def test_layers_apply_in_order_preset_file_overrides(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("epochs: 7\nlr: 0.01\n")
    cfg = load_config("ci", f, {"lr": 0.5})
    assert (cfg.model, cfg.epochs, cfg.lr) == ("lspd-xs", 7, 0.5)  # preset, file, override


def test_ints_are_accepted_where_floats_are_expected():
    cfg = load_config(None, None, {"lr": 1, "milestones": (0, 1)})
    assert isinstance(cfg.lr, float) and cfg.milestones == (0.0, 1.0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"stagez": 3}, "unknown key 'stagez'; valid keys: dataset"),
        ({"epochs": "ten"}, "epochs='ten' is not a valid int"),
        ({"distill": "teachers"}, "distill='teachers' is not one of: none, teacher, sequence, teacher+sequence"),
        ({"alpha": 1.5}, "alpha=1.5 must be in [0, 1]"),
        ({"epochs": 0}, "epochs=0 must be in [1, inf)"),
        ({"flip_test": "yes please"}, "flip_test='yes please' is not a valid bool"),
    ],
)
def test_bad_values_name_the_key(overrides, message):
    with pytest.raises(InputError, match=re.escape(message)):
        load_config(None, None, overrides)


def test_bad_files_are_named(tmp_path):
    with pytest.raises(InputError, match="unknown preset 'fast'; choose from: ci, paper, quick"):
        load_config("fast")
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1,\n")
    with pytest.raises(InputError, match=f"{bad} is not valid YAML"):
        load_config(None, bad)
    with pytest.raises(InputError, match="does not exist"):
        load_config(None, tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="not of the form key=value"):
        parse_overrides(["stages"])


def test_presets_ship_and_load():
    assert preset_names() == ["ci", "paper", "quick"]
    for name in preset_names():
        assert isinstance(load_config(name), RunConfig)
    assert load_config("paper").loss == "mse"  # the standard loss for the paper preset
    assert load_config("quick").loss == "fg_mse"


def test_hash_is_canonical_and_sensitive():
    a = config_hash({"b": 1, "a": [1, 2]})
    assert a == config_hash({"a": [1, 2], "b": 1})  # key order does not matter
    assert a != config_hash({"a": [1, 2], "b": 2})


def test_identity_fills_model_defaults_and_ignores_location():
    base = load_config("ci")
    same = load_config("ci", None, {"width": 32, "workers": 3, "data_dir": "/elsewhere"})  # 32 is lspd-xs's default
    assert run_id(identity(base, 16, "f")) == run_id(identity(same, 16, "f"))
    assert identity(base, 16, "f")["model_knobs"]["block"] == "lmrb"
    assert run_id(identity(base, 16, "f")) != run_id(identity(base, 16, "g"))  # another dataset
    assert run_id(identity(base, 16, "f")) != run_id(identity(load_config("ci", None, {"stages": 3}), 16, "f"))
    # alpha and teacher settings do not matter without distillation
    assert run_id(identity(base, 16, "f")) == run_id(identity(load_config("ci", None, {"alpha": 0.3}), 16, "f"))


def test_the_teacher_trains_with_its_own_epochs_and_learning_rate_when_set():
    from lspd_bench.config import teacher_config

    cfg = load_config("ci", None, {"lr": 0.2, "epochs": 4, "teacher_lr": 0.05, "teacher_epochs": 8, "seed": 3})
    teacher = teacher_config(cfg)
    assert (teacher.model, teacher.lr, teacher.epochs, teacher.seed, teacher.distill) == (
        "hourglass",
        0.05,
        8,
        0,
        "none",
    )
    plain = teacher_config(
        load_config("ci", None, {"lr": 0.2, "epochs": 4, "teacher_lr": None, "teacher_epochs": None})
    )
    assert (plain.lr, plain.epochs) == (0.2, 4)  # unset: the student's schedule
    distilled = load_config("ci", None, {"distill": "teacher"})
    # A different teacher learning rate is a different teacher: the distilled run's identity says so.
    assert run_id(identity(distilled, 16, "f")) != run_id(identity(replace(distilled, teacher_lr=0.003), 16, "f"))
    with pytest.raises(InputError, match=r"teacher_lr=-0.1 must be in \(0, inf\)"):
        load_config("ci", None, {"teacher_lr": -0.1})
