"""retrieval.atomic: a replaced file is the whole old one or the whole new one, whatever happens meanwhile.

The crash test kills a real second process with SIGKILL, at random moments and at a chosen one (half
the new content written), and checks the file each time: never a part, never a temporary file renamed
over it. What a kill leaves behind is documented here too: at most the killed write's temporary file,
``.<name>.<random>.tmp``, which stays until someone deletes it.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from retrieval import atomic
from retrieval.atomic import atomic_path, atomic_write

posix_only = pytest.mark.skipif(os.name != "posix", reason="permission bits and SIGKILL are POSIX")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@posix_only
def test_writes_bytes_or_text_and_sets_the_mode_exactly(tmp_path: Path) -> None:
    target = tmp_path / "pointer.json"
    atomic_write(target, b"\x00\xffbytes", mode=0o640)
    assert target.read_bytes() == b"\x00\xffbytes"
    assert mode_of(target) == 0o640
    # Text is encoded as given (no newline translation); a mode wider than the umask is still exact.
    atomic_write(target, "caf\u00e9\r\nline\n", mode=0o666)
    assert target.read_bytes() == "caf\u00e9\r\nline\n".encode()
    assert mode_of(target) == 0o666
    atomic_write(target, "x", encoding="utf-16")
    assert target.read_bytes() == "x".encode("utf-16")
    assert names(tmp_path) == ["pointer.json"]


@posix_only
def test_without_a_mode_an_existing_file_keeps_its_own_and_a_new_one_gets_opens(tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.write_bytes(b"old")
    existing.chmod(0o604)
    atomic_write(existing, b"new")
    assert existing.read_bytes() == b"new" and mode_of(existing) == 0o604

    reference = tmp_path / "made-by-open"
    reference.write_bytes(b"")  # 0o666 less the umask
    fresh = tmp_path / "fresh"
    atomic_write(fresh, b"data")
    assert mode_of(fresh) == mode_of(reference)
    with atomic_path(tmp_path / "fresh-by-path") as tmp:
        tmp.write_bytes(b"data")
    assert mode_of(tmp_path / "fresh-by-path") == mode_of(reference)


@posix_only
def test_atomic_path_hands_a_writer_a_hidden_name_beside_the_target(tmp_path: Path) -> None:
    target = tmp_path / "graph.onnx"
    target.write_bytes(b"old graph")
    with atomic_path(target, mode=0o644) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".graph.onnx.") and tmp.name.endswith(".tmp")
        assert tmp.read_bytes() == b""
        assert target.read_bytes() == b"old graph"  # nothing replaced before the block ends
        tmp.unlink()  # a library that deletes and recreates its output file
        tmp.write_bytes(b"new graph")
    assert target.read_bytes() == b"new graph"
    assert mode_of(target) == 0o644
    assert names(tmp_path) == ["graph.onnx"]


def test_a_writer_that_raises_midway_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "ledger.json"
    target.write_bytes(b"old ledger")
    with pytest.raises(RuntimeError, match="midway"), atomic_path(target) as tmp:
        tmp.write_bytes(b"half of the new")
        raise RuntimeError("midway")
    assert target.read_bytes() == b"old ledger"
    assert names(tmp_path) == ["ledger.json"]


def test_a_failed_flush_or_rename_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "page.html"
    target.write_bytes(b"old page")

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "disk error")

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", failing_fsync)
        with pytest.raises(OSError, match="disk error"):
            atomic_write(target, b"new page" * 1000)
        with pytest.raises(OSError, match="disk error"), atomic_path(target) as tmp:
            tmp.write_bytes(b"new page")
    assert target.read_bytes() == b"old page"
    assert names(tmp_path) == ["page.html"]

    # A real failure of the rename: a folder (not empty) can't be replaced by a file.
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "inside").write_bytes(b"kept")
    with pytest.raises(OSError):
        atomic_write(blocked, b"data")
    assert names(tmp_path) == ["blocked", "page.html"]
    assert (blocked / "inside").read_bytes() == b"kept"


@posix_only
def test_the_file_is_flushed_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f"
    flushed: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def spy_fsync(fd: int) -> None:
        flushed.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    def spy_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        flushed.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    atomic_write(target, b"one")
    assert flushed == ["file", "rename", "folder"]
    flushed.clear()
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"two")
    assert flushed == ["file", "rename", "folder"]
    flushed.clear()
    atomic_write(target, b"three", sync=False)  # atomic for readers and kills; no flush at all
    assert flushed == ["rename"]
    assert target.read_bytes() == b"three"


def test_a_folder_that_cant_be_opened_is_not_flushed_and_the_write_still_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on Windows, where a folder can't be opened."""
    real_open = os.open

    def no_folders(path: str | os.PathLike[str], flags: int, *args: int, **kwargs: int) -> int:
        if os.path.isdir(path):
            raise PermissionError(errno.EACCES, "a folder can't be opened", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_folders)
    target = tmp_path / "f"
    atomic_write(target, b"content")
    assert target.read_bytes() == b"content"
    assert names(tmp_path) == ["f"]


# The crash test ------------------------------------------------------------------------------------

SIZE = 8 << 20  # big enough that a kill at a random moment often lands inside a write


def version_content(version: int) -> bytes:
    """Version ``version`` of the file: its 8-digit number repeated; any part or mix of two is detectable."""
    return b"%08d" % version * (SIZE // 8)


def version_of(data: bytes) -> int:
    """The version ``data`` is, complete; fails the test on anything else."""
    assert len(data) == SIZE, f"a partial file: {len(data)} of {SIZE} bytes"
    version = int(data[:8])
    assert data == version_content(version), "a file mixing versions"
    return version


# The child imports the module by its path: only the standard library, so it starts in milliseconds.
CHILD = r"""
import importlib.util, os, sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("atomic_under_test", sys.argv[1])
atomic = importlib.util.module_from_spec(spec)
spec.loader.exec_module(atomic)
target, version, pause, size = Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "pause", int(sys.argv[5])
os.write(1, b"ready\n")  # one write per line: a kill never cuts a line (print may write in pieces)
while True:
    data = b"%08d" % version * (size // 8)
    if pause:
        with atomic.atomic_path(target) as tmp, open(tmp, "wb") as out:
            out.write(data[: size // 2])
            out.flush()
            os.write(1, b"half %d\n" % version)
            sys.stdin.readline()  # never answered: the parent kills the process here
            out.write(data[size // 2 :])
    else:
        atomic.atomic_write(target, data)
    os.write(1, b"done %d\n" % version)
    version += 1
"""


def run_and_kill(target: Path, first: int, pause: bool, delay: float) -> list[str]:
    """Start a child writing versions ``first``, ``first + 1``, ...; SIGKILL it; return what it printed."""
    args = [atomic.__file__, str(target), str(first), "pause" if pause else "run", str(SIZE)]
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        lines = []
        if pause:
            lines.append(proc.stdout.readline().strip())  # blocks until half of a version is written
            assert lines == [f"half {first}"]
        else:
            time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        lines += proc.stdout.read().split("\n")
    finally:
        proc.kill()
        proc.wait(timeout=60)
        proc.stdout.close()
        assert proc.stdin is not None
        proc.stdin.close()
    assert proc.returncode == -signal.SIGKILL
    return [line for line in lines if line]


@posix_only
@pytest.mark.slow
@pytest.mark.subprocess
def test_a_writer_killed_at_any_moment_leaves_the_old_or_the_new_file_whole(tmp_path: Path) -> None:
    """SIGKILL at random moments (seeded) and inside a write: the file is always one complete version.

    If the child reported version R written, the file is R, or R + 1 when the kill came between that
    write's rename and its report; before any report it is the version the parent last saw. A kill
    inside a write leaves that write's temporary file, half written and hidden; it is never renamed
    over the target and stays there (nothing sweeps it; a later write of the same file doesn't either).
    """
    rng = random.Random(20240611)
    target = tmp_path / "data.bin"
    atomic_write(target, version_content(0))
    current = 0
    litter: dict[str, bytes] = {}
    for round_ in range(12):
        pause = round_ % 4 == 3
        lines = run_and_kill(target, current + 1, pause, rng.uniform(0.0, 0.5))
        done = [int(line.split()[1]) for line in lines if line.startswith("done")]
        assert done == list(range(current + 1, current + 1 + len(done)))  # in order, none skipped
        reported = done[-1] if done else current
        found = version_of(target.read_bytes())
        if pause:
            assert found == current  # killed before the rename: the old file, whole
        else:
            assert found in (reported, reported + 1)
        new_litter = {
            name: (tmp_path / name).read_bytes()
            for name in names(tmp_path)
            if name != target.name and name not in litter
        }
        assert len(new_litter) <= 1  # at most the write the kill interrupted
        for name, data in new_litter.items():
            assert name.startswith(f".{target.name}.") and name.endswith(".tmp")
            if pause:
                assert data == version_content(current + 1)[: SIZE // 2]
        if pause:
            assert len(new_litter) == 1  # the interrupted write's temporary file is left behind
        for name, data in litter.items():  # earlier litter is untouched, and never became the target
            assert (tmp_path / name).read_bytes() == data
        litter.update(new_litter)
        current = found
    # What the litter never is: the target. A plain write afterwards replaces only the target.
    atomic_write(target, version_content(current + 1))
    assert version_of(target.read_bytes()) == current + 1
    assert set(names(tmp_path)) == {target.name, *litter}


# Concurrent writers --------------------------------------------------------------------------------


def test_threads_writing_the_same_file_leave_one_complete_version(tmp_path: Path) -> None:
    target = tmp_path / "shared.json"
    writers, rounds, size = 8, 10, 256 << 10
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def content(writer: int, round_: int) -> bytes:
        return (b"%02d%03d" % (writer, round_)) * (size // 5)

    def write(writer: int) -> None:
        try:
            start.wait(timeout=60)
            for round_ in range(rounds):
                if round_ % 2:
                    with atomic_path(target) as tmp:
                        tmp.write_bytes(content(writer, round_))
                else:
                    atomic_write(target, content(writer, round_))
                data = target.read_bytes()  # a reader meanwhile: always some writer's whole version
                assert data == content(int(data[:2]), int(data[2:5]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    data = target.read_bytes()
    writer, round_ = int(data[:2]), int(data[2:5])
    assert data == content(writer, round_) and writer < writers and round_ < rounds
    assert names(tmp_path) == ["shared.json"]  # every temporary file renamed or removed
