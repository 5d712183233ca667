"""The Textual operator interface (``app tui``)."""

__all__: list[str] = []
