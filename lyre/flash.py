"""Flash messages: a note stored for the next page the same client sees, shown once.

``flash(request, "Saved.")`` before a redirect; the page the client lands on reads it with
``get_flashed_messages(request)``, which removes what it returns from the session. Messages live in
``request.session`` (so ``SessionMiddleware`` or a compatible one is needed) as a JSON list of
``[category, message]`` pairs under ``"_flashes"``.

Within one request, reading is repeatable: the messages taken from the session are kept on the
request, so a template may call ``get_flashed_messages`` more than once and get the same list.
At most ``MAX_PENDING`` messages wait in a session (the oldest are dropped), so a loop that keeps
flashing cannot grow the session cookie without bound.

In Jinja2 templates, either register the function and pass the request::

    templates.env.globals["get_flashed_messages"] = get_flashed_messages
    {% for category, text in get_flashed_messages(request, with_categories=True) %}

or add ``flash_context`` to ``Jinja2Templates(..., context_processors=[flash_context])`` and call
``get_flashed_messages()`` without arguments (nothing is read unless the template calls it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Literal, overload

from lyre.requests import HTTPConnection

__all__ = ["MAX_PENDING", "SESSION_KEY", "flash", "flash_context", "get_flashed_messages"]

#: The session key holding the pending messages.
SESSION_KEY = "_flashes"
#: The most messages kept pending in one session.
MAX_PENDING = 50

_TAKEN_SCOPE_KEY = "lyre.flashes"


def _session(request: HTTPConnection) -> Any:
    if "session" not in request.scope:
        raise RuntimeError(
            "flash messages are stored in the session: install SessionMiddleware "
            "(lyre.middleware.sessions.SessionMiddleware) around the application"
        )
    return request.session  # through the property: the session is marked as accessed


def _pending(session: Any) -> list[list[str]]:
    """The session's well-formed pending messages (anything else under the key is dropped)."""
    stored = session.get(SESSION_KEY)
    if not isinstance(stored, list):
        return []
    return [
        [item[0], item[1]]
        for item in stored
        if isinstance(item, list | tuple)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], str)
    ]


def flash(request: HTTPConnection, message: str, category: str = "info") -> None:
    """Store ``message`` for the next ``get_flashed_messages`` of this client's session."""
    if not isinstance(message, str) or not isinstance(category, str):
        raise TypeError("flash() takes a str message and a str category")
    session = _session(request)
    pending = _pending(session)
    pending.append([category, message])
    session[SESSION_KEY] = pending[-MAX_PENDING:]


@overload
def get_flashed_messages(
    request: HTTPConnection,
    with_categories: Literal[False] = False,
    category_filter: Iterable[str] = (),
) -> list[str]: ...


@overload
def get_flashed_messages(
    request: HTTPConnection,
    with_categories: Literal[True],
    category_filter: Iterable[str] = (),
) -> list[tuple[str, str]]: ...


def get_flashed_messages(
    request: HTTPConnection,
    with_categories: bool = False,
    category_filter: Iterable[str] = (),
) -> list[str] | list[tuple[str, str]]:
    """The flashed messages, oldest first, removed from the session.

    ``with_categories=True`` returns ``(category, message)`` pairs. ``category_filter`` returns (and
    removes) only messages of those categories; the others stay pending.
    """
    wanted = frozenset(category_filter)
    session = _session(request)
    taken: list[tuple[str, str]] = request.scope.setdefault(_TAKEN_SCOPE_KEY, [])
    if SESSION_KEY in session:
        keep: list[list[str]] = []
        for category, message in _pending(session):
            if not wanted or category in wanted:
                taken.append((category, message))
            else:
                keep.append([category, message])
        if keep:
            session[SESSION_KEY] = keep
        else:
            del session[SESSION_KEY]
    chosen = [pair for pair in taken if not wanted or pair[0] in wanted]
    if with_categories:
        return chosen
    return [message for _, message in chosen]


def flash_context(request: HTTPConnection) -> dict[str, Callable[..., Any]]:
    """A Jinja2Templates context processor: ``get_flashed_messages()`` bound to the request."""
    return {"get_flashed_messages": functools.partial(get_flashed_messages, request)}
