"""The customer displays' relay (web/cashier/display.py): a display waiting for its till
hears the next message at once, gets what there is when it asks late, and the relay
keeps a bounded number of tills."""

from __future__ import annotations

import asyncio

from tillpoint.web.cashier.display import DisplayHub

T1, T2 = (1, 1, "T1"), (1, 1, "T2")


def test_a_waiting_display_hears_the_next_message_at_once() -> None:
    async def run() -> None:
        hub = DisplayHub()
        waiting = asyncio.create_task(hub.next(T1, 0, 30))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        hub.tell(T2, {"type": "idle"})  # another till's: not this display's
        await asyncio.sleep(0.01)
        assert not waiting.done()
        hub.tell(T1, {"type": "cart", "total": 250})
        assert await asyncio.wait_for(waiting, 1) == (1, {"type": "cart", "total": 250})
        hub.tell(T1, {"type": "idle"})
        hub.tell(T1, {"type": "paid", "total": 250})
        assert await hub.next(T1, 1, 30) == (3, {"type": "paid", "total": 250})  # the latest
        assert await hub.next(T1, 3, 0) == (3, {"type": "paid", "total": 250})  # no wait

    asyncio.run(run())


def test_the_relay_keeps_a_bounded_number_of_tills() -> None:
    async def run() -> None:
        hub = DisplayHub(max_tills=3)
        waiting = asyncio.create_task(hub.next((1, 1, "A"), 0, 30))
        await asyncio.sleep(0.01)
        for n in range(10):
            hub.tell((1, 1, f"T{n}"), {"type": "idle"})
        assert len(hub._slots) == 3
        assert await asyncio.wait_for(waiting, 1) == (0, None)  # forgotten: answered
        assert await hub.next((1, 1, "T9"), 0, 0) == (1, {"type": "idle"})

    asyncio.run(run())
