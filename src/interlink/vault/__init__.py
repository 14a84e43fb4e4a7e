"""The encrypted secret store: envelope encryption (AES-256-GCM data keys wrapped by a master
key), the master keys and where they come from, and the lookup running nodes resolve
``${secret:NAME}`` through."""

from interlink.vault.envelope import SealError
from interlink.vault.master_keys import (
    PROVIDER_GROUP,
    KeyProvider,
    MasterKey,
    MasterKeys,
    load_master_keys,
    require_master_keys,
)
from interlink.vault.resolver import StoreSecrets
from interlink.vault.vault import RewrapResult, SecretChange, Vault, check_name

__all__ = [
    "PROVIDER_GROUP",
    "KeyProvider",
    "MasterKey",
    "MasterKeys",
    "RewrapResult",
    "SealError",
    "SecretChange",
    "StoreSecrets",
    "Vault",
    "check_name",
    "load_master_keys",
    "require_master_keys",
]
