"""A full disk in any atomic writer of ``dca.utils.io``: one DiskFullError naming the file and the free space,
the temporary file removed, the previous file kept; ``dca`` prints it as one line and exits 1."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dca.cli import main
from dca.utils.io import DiskFullError, atomic_path, disk_full_errno, save_npy, write_json, write_text


def _enospc() -> OSError:
    """The OSError a write to a full disk raises."""
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _fsync_on_a_full_disk(fd: int) -> None:
    """``os.fsync`` of a file whose delayed blocks no longer fit (the data itself was written)."""
    raise _enospc()


def test_write_text_on_a_full_disk_names_the_file_and_keeps_the_previous_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "summary.json"
    write_json(path, {"epoch": 1})
    monkeypatch.setattr(os, "fsync", _fsync_on_a_full_disk)
    with pytest.raises(DiskFullError) as err:
        write_text(path, '{"epoch": 2}\n')
    message = str(err.value)
    assert message.startswith(f"cannot write {path}: No space left on device (")
    assert f"MiB free on {tmp_path})" in message and "previous summary.json is kept" in message
    assert "Free some space and run again" in message and "Errno" not in message
    assert err.value.errno == errno.ENOSPC and isinstance(err.value.__cause__, OSError)
    assert json.loads(path.read_text(encoding="utf-8")) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary file left


def test_save_npy_on_a_full_disk_mid_file_removes_the_partial_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "case.npy"
    save_npy(path, np.arange(4))
    real_save = np.save

    def half_written(f: object, array: np.ndarray) -> None:
        real_save(f, np.zeros(1000))  # part of the file reaches the disk, then it is full
        raise _enospc()

    monkeypatch.setattr(np, "save", half_written)
    with pytest.raises(DiskFullError, match=r"cannot write .*case\.npy: No space left on device \(.* MiB free"):
        save_npy(path, np.arange(8))
    monkeypatch.undo()
    assert np.load(path).tolist() == [0, 1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["case.npy"]


def test_a_first_write_on_a_full_disk_says_no_file_exists_yet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "fsync", _fsync_on_a_full_disk)
    with pytest.raises(DiskFullError, match=r"no curves\.csv exists yet"):
        write_text(tmp_path / "curves.csv", "run,epoch\n")
    assert list(tmp_path.iterdir()) == []


def test_a_quota_error_wrapped_by_a_writer_in_a_runtime_error_is_a_full_disk(tmp_path: Path) -> None:
    """Like torch.save: the OSError of the Python file is chained to the RuntimeError the writer raises."""
    path = tmp_path / "metrics.json"
    with pytest.raises(DiskFullError, match="Disk quota exceeded") as err, atomic_path(path) as tmp:
        tmp.write_text("{}", encoding="utf-8")
        try:
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
        except OSError as cause:
            raise RuntimeError("[enforce fail at inline_container.cc] . unexpected pos 64 vs 0") from cause
    assert err.value.errno == errno.EDQUOT
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("err", "code"),
    [
        (_enospc(), errno.ENOSPC),
        (RuntimeError(f"file write failed: {os.strerror(errno.ENOSPC)}"), errno.ENOSPC),  # named only in the message
        (OSError(errno.EIO, os.strerror(errno.EIO)), None),
        (RuntimeError("unexpected pos 64 vs 0"), None),
    ],
    ids=["oserror", "message", "other-oserror", "other-runtimeerror"],
)
def test_disk_full_detection(err: BaseException, code: int | None) -> None:
    assert disk_full_errno(err) == code


def test_other_write_errors_pass_unchanged_and_remove_the_temp_file(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="Input/output error") as err, atomic_path(tmp_path / "table.md") as tmp:
        tmp.write_text("| a |\n", encoding="utf-8")
        raise OSError(errno.EIO, os.strerror(errno.EIO))
    assert not isinstance(err.value, DiskFullError)
    assert list(tmp_path.iterdir()) == []


def test_the_io_module_and_the_cli_entry_import_neither_torch_nor_numpy() -> None:
    code = "import sys, dca.cli, dca.utils.io; print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "[]"


def test_a_full_disk_exits_1_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "fsync", _fsync_on_a_full_disk)
    assert main(["data", "synth", "binary", "--out", str(tmp_path / "raw"), "--n", "2", "--size", "16x16"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dca data synth: error: cannot write ")
    assert "No space left on device" in err and "MiB free" in err and "--debug" in err and "Traceback" not in err


def test_a_full_disk_with_debug_shows_the_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "fsync", _fsync_on_a_full_disk)
    with pytest.raises(DiskFullError, match="No space left on device"):
        main(["--debug", "data", "synth", "binary", "--out", str(tmp_path / "raw"), "--n", "2", "--size", "16x16"])


FILL_A_TINY_DISK = """
import os, sys
from dca.utils.io import DiskFullError, write_text
write_text(sys.argv[1], "old")
try:
    write_text(sys.argv[1], "x" * 2**21)
except DiskFullError as err:
    print(err)
print(open(sys.argv[1]).read(), sorted(os.listdir(os.path.dirname(sys.argv[1]))))
"""


def test_write_text_on_a_real_full_disk(tiny_disk) -> None:
    """On a real 1 MiB tmpfs."""
    proc = tiny_disk.run(FILL_A_TINY_DISK, "tables.md", timeout=60)
    disk = tiny_disk.path
    assert proc.stdout.splitlines()[0].startswith(f"cannot write {disk}/tables.md: No space left on device ("), (
        proc.stdout
    )
    assert proc.stdout.splitlines()[1] == "old ['tables.md']", proc.stdout
