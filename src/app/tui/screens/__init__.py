"""The operator app's screens and dialogs."""

from app.tui.screens.dialogs import ConfirmDialog, FlagDialog, TypedConfirmDialog
from app.tui.screens.help import HelpScreen
from app.tui.screens.log import LogScreen
from app.tui.screens.main import MainScreen
from app.tui.screens.strategies import StrategiesScreen
from app.tui.screens.validation import ValidationScreen

__all__ = [
    "ConfirmDialog",
    "FlagDialog",
    "HelpScreen",
    "LogScreen",
    "MainScreen",
    "StrategiesScreen",
    "TypedConfirmDialog",
    "ValidationScreen",
]
