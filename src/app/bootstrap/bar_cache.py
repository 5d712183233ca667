"""The home's bar cache: one Parquet cache per market, ``<home>/cache/<market>/<SYMBOL>/<timeframe>/``.

A symbol name does not say which market its bars are from: Bybit spot ``BTCUSDT`` and the linear perpetual
``BTCUSDT`` trade at different prices. In one series the cache's merge by timestamp (the newer write wins)
would interleave them and a backtest would read the mix, so each market has its own root and every writer
and reader names the market of the bars it handles:

- ``spot``, ``linear``, ``inverse``: Bybit's product categories (``option`` bars go to ``options``);
- ``forex``, ``options``: the asset classes that are no Bybit market, for files imported with ``--market``.

A cache made before markets existed has its symbol folders directly under ``<home>/cache``. Only spot could
be told apart then, so the first open moves them into ``<home>/cache/spot`` (``migrate_legacy_layout``).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Final

from app.adapters.storage.parquet import ParquetBarCache
from app.domain.values import Asset
from app.ports.errors import DataError, StorageError

__all__ = [
    "CACHE_FOLDER",
    "LEGACY_MARKET",
    "MARKETS",
    "cache_folder",
    "home_cache",
    "home_caches",
    "market_of_asset",
    "market_of_category",
    "migrate_legacy_layout",
]

log = logging.getLogger("app.data")

CACHE_FOLDER: Final = "cache"
MARKETS: Final = ("spot", "linear", "inverse", "forex", "options")
"""Every market root, in the order ``app data list`` shows them. The names are reserved at the top of
``<home>/cache``: a symbol folder of the old layout with one of these names is not moved."""
LEGACY_MARKET: Final = "spot"
"""Where the old layout's series go: before markets, spot was the only one that could be told apart."""

_ASSET_MARKETS: Final = {
    Asset.SPOT: "spot",
    Asset.FUTURES: "linear",  # the perpetuals the paper venues and the backtester model are USDT-margined
    Asset.FOREX: "forex",
    Asset.OPTIONS: "options",
}
_CATEGORY_MARKETS: Final = {"spot": "spot", "linear": "linear", "inverse": "inverse", "option": "options"}
# The cache's own rule for a symbol folder name (adapters/storage/parquet/cache.py): dot-names are its
# temporary files and are never series.
_SYMBOL_FOLDER: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def market_of_asset(asset: Asset) -> str:
    """The market whose bars a spec of ``asset`` trades: futures specs read the linear perpetuals."""
    return _ASSET_MARKETS[asset]


def market_of_category(category: str) -> str:
    """The market of a Bybit product category's bars.

    Raises:
        DataError: not a Bybit category.
    """
    try:
        return _CATEGORY_MARKETS[category]
    except KeyError:
        msg = f"unknown bybit category {category!r}; expected one of {', '.join(_CATEGORY_MARKETS)}"
        raise DataError(msg) from None


def cache_folder(home: Path) -> Path:
    """``<home>/cache``: the folder holding one root per market."""
    return home / CACHE_FOLDER


def home_cache(home: Path, market: str) -> ParquetBarCache:
    """The bar cache of ``market`` in an already resolved home: ``<home>/cache/<market>``.

    An old-layout cache is migrated first (see ``migrate_legacy_layout``).

    Raises:
        DataError: ``market`` is not one of ``MARKETS``. StorageError: the migration could not move a folder.
    """
    if market not in MARKETS:
        msg = f"unknown market {market!r}; expected one of {', '.join(MARKETS)}"
        raise DataError(msg)
    migrate_legacy_layout(cache_folder(home))
    return ParquetBarCache(cache_folder(home) / market)


def home_caches(home: Path) -> list[tuple[str, ParquetBarCache]]:
    """Every market's cache of the home, in ``MARKETS`` order (a market with nothing cached lists nothing)."""
    return [(market, home_cache(home, market)) for market in MARKETS]


def migrate_legacy_layout(root: Path) -> int:
    """Move the old layout's symbol folders (``<root>/<SYMBOL>/``) into ``<root>/spot/``; returns how many.

    Renames only, each atomic: a symbol folder moves whole when ``spot`` has no folder of that name, else
    (a move cut short, or a folder written again by an older version meanwhile) entry by entry, a part file
    present on both sides keeping the newer copy as the cache does. Running it again finishes what an
    interrupted run left and is a no-op on a migrated cache, so every open of the cache calls it.

    Raises:
        StorageError: a folder could not be moved (the message names it; nothing is lost, the next open
            retries).
    """
    if not root.is_dir():
        return 0
    legacy = sorted(p for p in root.iterdir() if p.name not in MARKETS and _is_symbol_folder(p))
    if not legacy:
        return 0
    target = root / LEGACY_MARKET
    try:
        target.mkdir(exist_ok=True)
        for folder in legacy:
            _move_tree(folder, target / folder.name)
    except OSError as e:
        msg = (
            f"cannot move the bar cache's old-layout series into {target} (the series of a cache made before"
            f" markets are spot bars): {e}"
        )
        raise StorageError(msg) from e
    # A warning, so a command line without logging set up still says it (Python's last-resort handler).
    log.warning(
        "bar cache %s: moved %d symbol folder(s) of the layout before markets into %s; perpetual bars"
        " cached before, if any, are among them: download them again with --category linear (docs/data.md)",
        root,
        len(legacy),
        target,
    )
    return len(legacy)


def _is_symbol_folder(path: Path) -> bool:
    return bool(_SYMBOL_FOLDER.match(path.name)) and path.is_dir() and not path.is_symlink()


def _move_tree(source: Path, target: Path) -> None:
    """Move folder ``source`` to ``target`` by atomic renames, merging into a ``target`` that exists."""
    if not target.exists():
        try:
            os.rename(source, target)
        except FileNotFoundError:
            if source.exists():
                raise
            return  # another process moved it first
        except OSError:
            if not target.is_dir():  # anything but "moved meanwhile by another process, merge into it"
                raise
        else:
            return
    for entry in sorted(source.iterdir()):
        destination = target / entry.name
        if entry.is_dir() and not entry.is_symlink():
            _move_tree(entry, destination)
        elif not destination.exists():
            os.rename(entry, destination)
        elif entry.stat().st_mtime_ns > destination.stat().st_mtime_ns:
            os.replace(entry, destination)  # the newer copy wins, as in the cache's own merge
        else:
            entry.unlink()
    source.rmdir()
