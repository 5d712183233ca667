"""The Textual operator interface (``app tui``)."""

from app.tui.app import OperatorApp

__all__ = ["OperatorApp"]
