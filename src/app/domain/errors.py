"""The root of the project's exceptions. Exceptions are for programmer errors and I/O; denials are Decisions."""

from __future__ import annotations

__all__ = ["AppError", "InvalidTransition", "ValidationFailed"]


class AppError(Exception):
    """Root of every error this application raises on purpose."""


class ValidationFailed(AppError):
    """Input (config, spec, data) is invalid. ``problems`` lists ``(where, reason)`` pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(
            f"{source}: {where}: {reason}" if where else f"{source}: {reason}" for where, reason in problems
        )
        super().__init__(lines)


class InvalidTransition(AppError):
    """A state machine was asked for a transition its table does not allow."""
