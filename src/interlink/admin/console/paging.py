"""Server-side paging and search for the console's long lists: a page of 50 rows, the total,
and links to the pages around it, so a list of ten thousand rows costs one page of HTML."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Final, Generic, TypeVar

from fastapi import Query, Request

PAGE_SIZE: Final = 50
#: How many page numbers either side of the current one the links show.
_AROUND: Final = 2

T = TypeVar("T")

#: A page number as a query parameter: past the last page shows the last one.
PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]


def matches(words: str, *fields: str | None) -> bool:
    """Whether every word of ``words`` is in one of ``fields`` (case-insensitive)."""
    wanted = words.lower().split()
    if not wanted:
        return True
    haystack = " ".join(f for f in fields if f).lower()
    return all(w in haystack for w in wanted)


@dataclass(frozen=True)
class PageLink:
    label: str
    href: str
    current: bool = False
    rel: str = ""


@dataclass(frozen=True)
class Paged(Generic[T]):
    """One page of a list, with what its page links need."""

    items: Sequence[T]
    total: int
    page: int
    pages: int
    first: int  # the 1-based position of the first row shown (0 for none)
    last: int
    links: tuple[PageLink, ...]


def paged(request: Request, rows: Sequence[T], page: int, param: str = "page") -> Paged[T]:
    """Page ``page`` of ``rows`` (the last one when past it), its links keeping the request's
    other query parameters (the search, the other lists' pages) and setting ``param``."""
    total = len(rows)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    start = (page - 1) * PAGE_SIZE
    items = rows[start : start + PAGE_SIZE]
    return Paged(
        items,
        total,
        page,
        pages,
        start + 1 if items else 0,
        start + len(items),
        _links(request, page, pages, param),
    )


def _links(request: Request, page: int, pages: int, param: str) -> tuple[PageLink, ...]:
    if pages == 1:
        return ()

    def href(n: int) -> str:
        query = request.url.include_query_params(**{param: n}).query
        return f"{request.url.path}?{query}"

    numbers = sorted({1, pages, *range(max(1, page - _AROUND), min(pages, page + _AROUND) + 1)})
    links: list[PageLink] = []
    if page > 1:
        links.append(PageLink("Previous", href(page - 1), rel="prev"))
    before = 0
    for n in numbers:
        if n > before + 1:
            links.append(PageLink("…", ""))
        links.append(PageLink(str(n), href(n), current=n == page))
        before = n
    if page < pages:
        links.append(PageLink("Next", href(page + 1), rel="next"))
    return tuple(links)
