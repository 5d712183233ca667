"""Notifier adapters: the structured log (always on)."""

from app.adapters.notify.log import LogNotifier

__all__ = ["LogNotifier"]
