"""Numbers, ids and times the admin API takes, with the ranges the store and the log hold.

Every integer the API reads (a path or query parameter, or a field of a JSON body) is one of
these types, so a number past 64 bits is a 422 naming the parameter, not an overflow deep in a
database driver (a 500 on SQLite, a retry-inviting 503 on PostgreSQL). They carry their bounds
as metadata, so the same type works in ``Path``, ``Query`` and pydantic models, and the OpenAPI
document states them. Times are read into UTC here, where one that leaves the years 1 to 9999
is a 422 rather than an overflow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final

from annotated_types import Interval
from pydantic import AfterValidator, AwareDatetime, StringConstraints

#: The largest integer a store column (BIGINT) or a log sequence holds, signed 64-bit.
MAX_INT: Final = (1 << 63) - 1

#: An id or sequence number the store or the event log gives out, from 1.
Id = Annotated[int, Interval(ge=1, le=MAX_INT)]
#: A position in a sequence: 0 is before its first entry.
Position = Annotated[int, Interval(ge=0, le=MAX_INT)]

#: A dead letter's id, ``SUBSCRIPTION:SEQ[:REPLAY]``; 18 digits stay within 64 bits.
DeliveryId = Annotated[
    str, StringConstraints(pattern=r"^[^:]{1,253}:[0-9]{1,18}(:[0-9]{1,18})?$", max_length=300)
]


def _in_utc(value: datetime) -> datetime:
    """The time in UTC (one without an offset is UTC, like every time the platform stores)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise ValueError("the time is outside the years 1 to 9999 in UTC") from None


#: A time, in UTC once read; one without an offset is taken as UTC.
Instant = Annotated[datetime, AfterValidator(_in_utc)]
#: A time that must carry its offset, in UTC once read.
AwareInstant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
