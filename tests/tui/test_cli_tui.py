"""``app tui`` as a command: the same options as ``app run --paper``, one instance per home folder."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from app.bootstrap import PaperRunOptions
from app.bootstrap.lock import HomeLock, HomeLocked, locked_paper_run
from app.cli.tui import tui
from tests.services.app_runtime.wiring import ETHBTC, SPEC


def invoke(*args: str):
    return CliRunner().invoke(tui, list(args), catch_exceptions=False)


def replay_options(home) -> PaperRunOptions:
    return PaperRunOptions(feed="replay", data=ETHBTC, specs=(SPEC,), bars=10, home=home)


def test_a_second_instance_on_the_same_home_refuses_to_start_with_exit_2(tmp_path):
    with HomeLock.acquire(tmp_path, purpose="app tui"):
        result = invoke("--feed", "replay", "--data", str(ETHBTC), "--home", str(tmp_path))

    assert result.exit_code == 2
    assert f"{tmp_path} is in use by another instance (pid {os.getpid()}: app tui)" in result.output


def test_live_is_refused_with_exit_2():
    result = invoke("--live")

    assert result.exit_code == 2
    assert "not available in this build" in result.output


def test_a_bad_config_stops_the_tui_before_the_home_folder_exists(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("runtime:\n  seed: [1, 2]\n")
    home = tmp_path / "home"

    result = invoke("--config", str(bad), "--home", str(home))

    assert result.exit_code == 2
    assert "runtime.seed" in result.output
    assert not home.exists()


def test_a_bad_speed_is_refused_with_exit_2(tmp_path):
    result = invoke("--speed", "fast", "--home", str(tmp_path))

    assert result.exit_code == 2
    assert "--speed" in result.output


def test_the_paper_run_holds_the_home_lock_until_it_is_closed(tmp_path):
    with locked_paper_run(replay_options(tmp_path), lambda status: None) as run, pytest.raises(HomeLocked):
        HomeLock.acquire(run.home)

    HomeLock.acquire(tmp_path).release()


def test_a_new_home_is_created_then_locked(tmp_path):
    home = tmp_path / "fresh"

    with locked_paper_run(replay_options(home), lambda status: None), pytest.raises(HomeLocked):
        HomeLock.acquire(home)

    assert (home / "app.lock").exists()


def test_a_lock_taken_twice_in_one_process_is_refused_too(tmp_path):
    with HomeLock.acquire(tmp_path), pytest.raises(HomeLocked, match="in use by another instance"):
        HomeLock.acquire(tmp_path)


def test_releasing_twice_is_harmless(tmp_path):
    lock = HomeLock.acquire(tmp_path)

    lock.release()
    lock.release()

    assert not lock.held
