import json
import os
import subprocess
import sys

import pytest

from lspd_bench.fileio import atomic_path, try_lock, write_json


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


def test_a_lock_is_exclusive_across_processes_and_freed_when_its_holder_is_killed(tmp_path):
    lock = tmp_path / "cell" / ".lock"
    code = "import sys, time\nfrom lspd_bench.fileio import file_lock\nwith file_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)"
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(lock)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with try_lock(lock) as held:
            assert held is False  # another process holds it: a second driver leaves the cell alone
    finally:
        holder.kill()
        holder.wait()
    with try_lock(lock) as held:
        assert held is True  # the killed holder's lock is gone with it
