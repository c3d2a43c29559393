"""Attempt directories: made off the event loop, ahead of the launch, reusable until launched."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from horae.runtime import _attempt


def test_make_dirs_makes_the_attempt_and_its_work_directory_and_says_whether_it_was_there(
    tmp_path: Path,
) -> None:
    directory = _attempt.attempt_dir(tmp_path, "job:1000", 2)
    assert _attempt.make_dirs(directory) is False
    assert (directory / _attempt.WORK).is_dir()
    assert _attempt.make_dirs(directory) is True  # again: reused, nothing raised


async def test_a_prepared_attempt_is_ready_with_what_prepare_did_there(tmp_path: Path) -> None:
    preparer = _attempt.Preparer(tmp_path)
    threads = []

    def then(directory: Path) -> str:
        threads.append(threading.get_ident())
        (directory / "spec").write_text("x")
        return "box-1"

    preparer.prepare("job:1", 1, then)
    directory, result = await preparer.ready("job:1", 1)
    assert result == "box-1" and (directory / "spec").read_text() == "x"
    assert threads != [threading.get_ident()]  # the file work ran on the worker thread, not the loop
    assert await preparer.ready("job:2", 1) == (_attempt.attempt_dir(tmp_path, "job:2", 1), "")
    preparer.close()


async def test_an_attempt_with_a_launch_mark_is_refused_unless_prepared_before_it(tmp_path: Path) -> None:
    preparer = _attempt.Preparer(tmp_path)
    directory, _ = await preparer.ready("job:1", 1)
    assert _attempt.claim(directory)  # launched (or claimed) now
    with pytest.raises(FileExistsError):
        await preparer.ready("job:1", 1)
    preparer.prepare("job:1", 1)  # prepared after the mark: refused too
    with pytest.raises(FileExistsError):
        await preparer.ready("job:1", 1)
    preparer.close()


async def test_forget_drops_a_preparation_made_stale_by_a_claim(tmp_path: Path) -> None:
    preparer = _attempt.Preparer(tmp_path)
    preparer.prepare("job:1", 1)
    directory = _attempt.attempt_dir(tmp_path, "job:1", 1)
    await preparer.run(lambda: None)  # the worker has made it
    assert _attempt.claim(directory)  # a reconcile claimed it: it must never start
    preparer.forget("job:1", 1)
    with pytest.raises(FileExistsError):
        await preparer.ready("job:1", 1)
    preparer.close()


async def test_preparations_whose_launch_never_came_are_bounded(tmp_path: Path) -> None:
    preparer = _attempt.Preparer(tmp_path)
    preparer.LIMIT = 3
    for i in range(5):
        preparer.prepare(f"job:{i}", 1)
    assert len(preparer._pending) == 3
    preparer.close()
    assert all(_attempt.attempt_dir(tmp_path, f"job:{i}", 1).is_dir() for i in range(5))
