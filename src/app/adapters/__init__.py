"""Concrete adapters; only bootstrap and cli import them."""
