"""Parquet bar cache: the BarStore port on Parquet files, per symbol and timeframe."""

from app.adapters.storage.parquet.cache import ParquetBarCache

__all__ = ["ParquetBarCache"]
