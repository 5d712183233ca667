"""``python -m app.cli`` is ``app``."""

from app.cli import main

main()
