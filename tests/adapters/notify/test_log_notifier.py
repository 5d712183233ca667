import logging

import trio

from app.adapters.notify import LogNotifier
from app.ports.notifier import Notifier


def test_the_log_notifier_is_a_notifier_that_logs_the_event_with_its_fields(caplog):
    notifier = LogNotifier()
    assert isinstance(notifier, Notifier)
    logging.getLogger("app").propagate = True
    with caplog.at_level(logging.INFO, logger="app.notify"):
        trio.run(notifier.notify, "order_filled", {"symbol": "BTCUSDT", "name": "clash"})

    [record] = caplog.records
    assert record.getMessage() == "order_filled"
    assert record.symbol == "BTCUSDT"
    assert record.f_name == "clash"
