"""The publishing SDK for service authors: a batching publisher and the transactional outbox.

>>> from interlink.sdk import AsyncPublisher, Outbox, OutboxRelay, PublishError
"""

from interlink.errors import PublishError
from interlink.sdk.client import AsyncPublisher, Publisher, Receipt
from interlink.sdk.outbox import Outbox, OutboxRelay

__all__ = ["AsyncPublisher", "Outbox", "OutboxRelay", "PublishError", "Publisher", "Receipt"]
