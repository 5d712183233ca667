"""app_runtime: the lifecycle of a run and the operator's actions on it (``AppRuntime``)."""

from app.services.app_runtime.controls import (
    AllocationControl,
    RegistryControl,
    WalletSource,
    credential_env_names,
)
from app.services.app_runtime.runtime import AppRuntime, RunStatus

__all__ = [
    "AllocationControl",
    "AppRuntime",
    "RegistryControl",
    "RunStatus",
    "WalletSource",
    "credential_env_names",
]
