"""settled_heap: start-up's objects frozen for the run, free to be collected after it."""

from __future__ import annotations

import gc
import weakref
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from app.bootstrap.heap import settled_heap
from app.bootstrap.paper import PaperRunOptions
from app.cli.common import enter_paper_run

ROOT = Path(__file__).resolve().parents[2]
ETHBTC = ROOT.parent / "shared" / "data" / "crypto_spot_5m" / "ETHBTC.csv"


class Node:
    """A container in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def a_cycle() -> weakref.ref[Node]:
    return weakref.ref(Node())


@pytest.fixture(autouse=True)
def _thawed() -> Any:
    yield
    gc.unfreeze()


def test_start_up_garbage_is_collected_and_survivors_are_frozen_for_the_block() -> None:
    garbage = a_cycle()
    survivor = Node()
    with settled_heap():
        assert garbage() is None  # collected on entry
        assert gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()
        made_in_the_run = a_cycle()
        gc.collect()
        assert made_in_the_run() is None  # the run's own garbage is still collected
        # Still frozen: a collection inside the block does not thaw start-up's objects. The count may drop
        # a little, as frozen objects freed by their reference counts (a finished thread's frame) leave it.
        assert 0 < gc.get_freeze_count() <= frozen
    assert gc.get_freeze_count() == 0
    assert survivor.me is survivor


def test_objects_frozen_during_a_run_are_collectable_after_it() -> None:
    start_up = Node()
    dropped = weakref.ref(start_up)
    with settled_heap():
        del start_up  # became garbage while frozen: not collected yet
        gc.collect()
        assert dropped() is not None
    gc.collect()
    assert dropped() is None


def test_the_heap_is_unfrozen_even_when_the_run_fails() -> None:
    with pytest.raises(RuntimeError), settled_heap():
        raise RuntimeError("the run failed")
    assert gc.get_freeze_count() == 0


@pytest.mark.skipif(not ETHBTC.exists(), reason="needs ../shared/data")
def test_a_paper_run_entered_from_the_cli_is_settled_until_it_ends(tmp_path: Path) -> None:
    options = PaperRunOptions(feed="replay", data=ETHBTC, home=tmp_path / "home", bars=5)
    with ExitStack() as stack:
        run = enter_paper_run(stack, options, lambda status: None, purpose="test")
        assert run.home == tmp_path / "home"
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
