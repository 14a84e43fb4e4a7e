"""Alerts: monitors' verdicts booked as alerts, worded for the people who own what fires, and
told to their Teams' channels (signed webhooks, chat, email) in the background.

``Alerts`` is the sink the monitors' evaluator feeds; ``interlink alerts`` and the admin API
read the book (``store.alerts``) and set silences.
"""

from interlink.alerts.book import Bookkeeper, Recorded
from interlink.alerts.channels import ChannelFailed, ChannelSenders, Message
from interlink.alerts.dispatch import Dispatcher, Pass
from interlink.alerts.sink import LEASE, Alerts

__all__ = [
    "LEASE",
    "Alerts",
    "Bookkeeper",
    "ChannelFailed",
    "ChannelSenders",
    "Dispatcher",
    "Message",
    "Pass",
    "Recorded",
]
