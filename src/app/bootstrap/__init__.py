"""The composition root: the only package that imports concrete adapters and wires them to the services.

One module per entry point (``paper`` for ``app run``/``app tui``); ``app.cli`` calls these builders.
"""

from app.bootstrap.paper import PaperRun, PaperRunOptions, build_paper_run, open_store, resolve_home

__all__ = ["PaperRun", "PaperRunOptions", "build_paper_run", "open_store", "resolve_home"]
