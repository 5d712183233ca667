import asyncio

import pytest
import trio
import trio.lowlevel

from app.services.trio_host import GuestCancelled, TrioGuest, run_trio_guest


def test_a_trio_function_runs_as_a_guest_and_returns_its_value():
    async def work(x: int) -> int:
        await trio.lowlevel.checkpoint()
        return x * 2

    assert asyncio.run(run_trio_guest(work, 21)) == 42


def test_asyncio_and_trio_make_progress_together():
    log: list[str] = []

    async def trio_side() -> None:
        for _ in range(3):
            log.append("trio")
            await trio.sleep(0.001)

    async def host() -> None:
        guest: TrioGuest[None] = TrioGuest(trio_side)
        guest.start()
        for _ in range(3):
            log.append("asyncio")
            await asyncio.sleep(0.001)
        await guest.wait()

    asyncio.run(host())

    assert log.count("trio") == 3
    assert log.count("asyncio") == 3
    assert log.index("asyncio") < len(log) - 1  # interleaved, not one after the other


def test_an_error_in_the_trio_side_reaches_the_host():
    async def broken() -> None:
        await trio.lowlevel.checkpoint()
        msg = "boom"
        raise ValueError(msg)

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(run_trio_guest(broken))


def test_cancel_from_the_host_unwinds_the_trio_side_through_its_finally_blocks():
    cleaned: list[bool] = []

    async def forever() -> None:
        try:
            await trio.sleep_forever()
        finally:
            cleaned.append(True)

    async def host() -> None:
        guest: TrioGuest[None] = TrioGuest(forever)
        guest.start()
        await asyncio.sleep(0.01)
        guest.cancel()
        await guest.wait()

    with pytest.raises(GuestCancelled):
        asyncio.run(host())
    assert cleaned == [True]


def test_cancelling_the_awaiting_asyncio_task_cancels_the_guest():
    cleaned: list[bool] = []

    async def forever() -> None:
        try:
            await trio.sleep_forever()
        finally:
            cleaned.append(True)

    async def host() -> None:
        task = asyncio.ensure_future(run_trio_guest(forever))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(host())
    assert cleaned == [True]
