"""Market-data feeds behind the MarketData port, one subpackage each: ``replay`` (files), ``synthetic``
(seeded generator) and ``bybit`` (public market data).

Import a feed from its subpackage (``app.adapters.feeds.replay.ReplayFeed``,
``app.adapters.feeds.synthetic.SyntheticFeed``), so a synthetic run does not pay for pandas and pyarrow.
"""

__all__: list[str] = []
