import json

import pytest

from lspd_bench.fileio import atomic_path, write_json


def test_write_json_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "result.json"
    write_json(target, {"a": 1})
    write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]


def test_a_failed_write_keeps_the_previous_version(tmp_path):
    target = tmp_path / "result.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"a": ')  # half-written
            raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
