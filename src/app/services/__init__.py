"""Application services: the seed's core and validation owners, written as trio code over the ports."""

__all__: list[str] = []
