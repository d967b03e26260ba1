"""Server-side sessions: where ``SessionMiddleware(..., store=...)`` keeps session data.

With a store, the session cookie carries only a signed, random session id; the data stays on the
server. Three stores ship with lyre:

* :class:`MemoryStore` -- one process (tests, development);
* :class:`FileStore` -- one machine, any number of worker processes (a shared directory);
* :class:`RedisStore` -- any number of machines (needs ``pip install 'lyre-asgi[redis]'``).

A store of your own subclasses :class:`SessionStore` and raises :class:`SessionStoreUnavailable` when
its backend cannot be reached; the middleware then answers 503 rather than pretending the user has an
empty session.

Call :func:`rotate` at log-in: the session keeps its data under a new id, so an id planted in the
browser before log-in (session fixation) is worthless afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
import secrets
import tempfile
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from lyre.requests import HTTPConnection

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = [
    "FileStore",
    "MemoryStore",
    "RedisStore",
    "SessionStore",
    "SessionStoreUnavailable",
    "new_session_id",
    "rotate",
]

#: Bytes of randomness in a session id (256 bits; the id is their URL-safe base64, 43 characters).
_ID_BYTES = 32
_SESSION_ID_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def new_session_id() -> str:
    """A fresh session id: 256 random bits from :mod:`secrets`, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(_ID_BYTES)


def _is_session_id(value: str) -> bool:
    """Whether ``value`` has the shape of an id made by :func:`new_session_id` (safe in keys and paths)."""
    return _SESSION_ID_RE.fullmatch(value) is not None


class SessionStoreUnavailable(Exception):
    """The session store could not be reached (server down, file system error, ...).

    ``SessionMiddleware`` turns it into a 503 response and a log line on the ``lyre.sessions`` logger.
    """


def _session_json(
    data: dict[str, Any], where: str = "session store", separators: tuple[str, str] | None = (",", ":")
) -> str:
    """The session as JSON text, or a ``TypeError`` naming the first value JSON cannot encode.

    ``where`` names the destination in that message; the cookie session passes ``"session cookie"``
    and ``json.dumps``' default separators (Starlette's cookie bytes).
    """
    try:
        return json.dumps(data, separators=separators)
    except (TypeError, ValueError) as exc:
        for key, value in data.items():
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                raise TypeError(
                    f"Session value for key {key!r} ({type(value).__name__}) cannot be stored in the "
                    f"{where}: it is not JSON serializable ({exc})."
                ) from exc
        raise TypeError(f"Session data cannot be stored in the {where}: {exc}") from exc


def _load_json(text: str | bytes) -> dict[str, Any] | None:
    """The JSON object in ``text``, or ``None`` for anything else (a damaged entry reads as absent)."""
    try:
        loaded = json.loads(text)
    except (ValueError, UnicodeError):
        return None
    return loaded if type(loaded) is dict else None


class SessionStore:
    """Where server-side sessions live. Subclass it and implement the three coroutines.

    Ids given to a store were made by :func:`new_session_id` and checked by the middleware, so they
    are safe to use in keys and file names; ``data`` is a plain JSON-serialisable ``dict``. Raise
    :class:`SessionStoreUnavailable` when the backend cannot be reached.
    """

    async def load(self, session_id: str) -> dict[str, Any] | None:
        """The data saved under ``session_id``, or ``None`` if there is none or it has expired."""
        raise NotImplementedError

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        """Store ``data`` under ``session_id`` for ``max_age`` seconds (replacing what was there)."""
        raise NotImplementedError

    async def delete(self, session_id: str) -> None:
        """Forget ``session_id`` (no error if it is unknown)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections or other resources (call it from the app's lifespan shutdown)."""


_MEMORY_MAX_ENTRIES = 10_000


class MemoryStore(SessionStore):
    """Sessions in a ``dict`` of this process: for tests and development, not for several workers.

    Data is kept as JSON text, so values behave exactly as with the other stores (no shared mutable
    objects, the same ``TypeError`` for values JSON cannot encode). Expired entries read as absent and
    are dropped when read, and by a full sweep at most once a minute when a session is saved.

    lyre decision (safety): at most ``max_entries`` sessions are held (default 10,000). Every client
    that gets a session written adds one, so without a bound a stream of cookie-less requests would
    grow the process's memory for ``max_age``; past the bound the least recently written session is
    dropped (its user starts a new one).
    """

    def __init__(self, max_entries: int = _MEMORY_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, str]] = {}
        self._next_sweep = 0.0

    async def load(self, session_id: str) -> dict[str, Any] | None:
        entry = self._entries.get(session_id)
        if entry is None:
            return None
        expires, text = entry
        if expires <= time.time():
            self._entries.pop(session_id, None)
            return None
        return _load_json(text)

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        now = time.time()
        entries = self._entries
        entry = (now + max_age, _session_json(data))
        # Re-inserted, so the dict's order is the order of last writes (oldest first).
        entries.pop(session_id, None)
        entries[session_id] = entry
        if now >= self._next_sweep:
            self._next_sweep = now + 60
            for key in [key for key, (expires, _) in entries.items() if expires <= now]:
                del entries[key]
        while len(entries) > self.max_entries:  # O(1) per save: the oldest write goes
            del entries[next(iter(entries))]

    async def delete(self, session_id: str) -> None:
        self._entries.pop(session_id, None)

    def __len__(self) -> int:
        """How many entries are held (expired ones included until swept)."""
        return len(self._entries)

    def __repr__(self) -> str:
        if self.max_entries == _MEMORY_MAX_ENTRIES:
            return "MemoryStore()"
        return f"MemoryStore(max_entries={self.max_entries})"


class FileStore(SessionStore):
    """Sessions as files in one directory, shared by every worker process of one machine.

    * Each session is one file named after the SHA-256 of its id (never after anything the client
      sent), holding ``{"expires": <unix time>, "data": {...}}``; its modification time is set to the
      expiry time too, so sweeping needs no reads.
    * Writes go to a temporary file in the same directory, then ``os.replace`` it over the old one: a
      reader in another process sees the old file or the new one, never half of one.
    * Expired files read as absent and are deleted. At most once per ``sweep_interval`` seconds (per
      process) a save also sweeps: it looks at up to ``sweep_batch`` files picked at random and deletes
      the expired ones (and temporary files left by a crash), so the work per request stays bounded
      and, over time, every file is looked at.
    * All file system work runs in a worker thread, never on the event loop. Any ``OSError`` other
      than "no such file" raises :class:`SessionStoreUnavailable`.

    The directory is created (with its parents) on first save; files are created ``0600``.
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, sweep_interval: float = 60.0, sweep_batch: int = 100
    ) -> None:
        self.directory = Path(directory)
        self.sweep_interval = sweep_interval
        self.sweep_batch = sweep_batch
        self._next_sweep = time.time() + random.uniform(0, sweep_interval)  # workers spread their sweeps

    def path_for(self, session_id: str) -> Path:
        """The file that holds ``session_id``'s data (named by a hash of the id)."""
        return self.directory / (hashlib.sha256(session_id.encode("utf-8")).hexdigest() + ".session")

    async def load(self, session_id: str) -> dict[str, Any] | None:
        return await anyio.to_thread.run_sync(self._load_sync, self.path_for(session_id))

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        now = time.time()
        expires = now + max_age
        text = f'{{"expires":{expires!r},"data":{_session_json(data)}}}'
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + self.sweep_interval
        await anyio.to_thread.run_sync(self._save_sync, self.path_for(session_id), text, expires, sweep)

    async def delete(self, session_id: str) -> None:
        await anyio.to_thread.run_sync(self._delete_sync, self.path_for(session_id))

    async def sweep(self, limit: int | None = None) -> int:
        """Delete expired session files now (up to ``limit`` files looked at; all when ``None``).

        Returns how many files were deleted. Saves already sweep a bounded batch from time to time;
        call this from a scheduled job to clean up a large directory in one go.
        """
        return await anyio.to_thread.run_sync(self._sweep_sync, limit)

    def _load_sync(self, path: Path) -> dict[str, Any] | None:
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SessionStoreUnavailable(f"cannot read session file {path.name}: {exc}") from exc
        entry = _load_json(text)
        if (
            entry is None
            or not isinstance(entry.get("expires"), float | int)
            or type(entry.get("data")) is not dict
        ):
            return None
        if entry["expires"] <= time.time():
            self._unlink_quietly(path)
            return None
        data: dict[str, Any] = entry["data"]
        return data

    def _save_sync(self, path: Path, text: str, expires: float, sweep: bool) -> None:
        try:
            try:
                fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".session")
            except FileNotFoundError:
                self.directory.mkdir(parents=True, exist_ok=True)
                fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".session")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as file:
                    file.write(text)
                os.utime(temp, (expires, expires))  # the mtime is the expiry: sweeping only stats
                os.replace(temp, path)
            except BaseException:
                self._unlink_quietly(Path(temp))
                raise
        except OSError as exc:
            raise SessionStoreUnavailable(f"cannot write session file {path.name}: {exc}") from exc
        if sweep:
            try:
                self._sweep_sync(self.sweep_batch)
            except OSError:  # sweeping is housekeeping: the save itself succeeded
                pass

    def _delete_sync(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise SessionStoreUnavailable(f"cannot delete session file {path.name}: {exc}") from exc

    def _sweep_sync(self, limit: int | None) -> int:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return 0
        if limit is not None and len(names) > limit:
            names = random.sample(names, limit)
        now = time.time()
        removed = 0
        for name in names:
            if not name.endswith(".session"):
                continue
            path = self.directory / name
            try:
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue
            # A session file's mtime is its expiry; a temporary file is stale after an hour.
            stale = mtime + 3600 <= now if name.startswith(".tmp-") else mtime <= now
            if stale:
                removed += self._unlink_quietly(path)
        return removed

    @staticmethod
    def _unlink_quietly(path: Path) -> int:
        try:
            path.unlink()
        except OSError:
            return 0
        return 1

    def __repr__(self) -> str:
        return f"FileStore({str(self.directory)!r})"


class RedisStore(SessionStore):
    """Sessions in Redis, shared by every process of every machine that reaches it.

    ``url_or_client`` is a ``redis://`` (or ``rediss://``, ``unix://``) URL, or a client made by the
    application: a ``redis.asyncio.Redis`` (used as it is, on asyncio) or a plain ``redis.Redis``
    (its calls run in worker threads, so it works under any anyio backend). Keys are ``prefix`` +
    session id, with Redis' own expiry set to ``max_age``. ``client_options`` go to ``from_url``.

    Built from a URL, the store makes its client lazily, on the event loop that first uses it: on
    asyncio a ``redis.asyncio`` client, closed when that loop shuts down (a different loop later, as
    under a test client without ``with``, gets its own); under trio, where ``redis.asyncio`` cannot
    run, a ``redis.Redis`` client in worker threads. Errors from Redis (connection refused, timeouts,
    ...) raise :class:`SessionStoreUnavailable`.
    """

    def __init__(
        self,
        url_or_client: str | redis.asyncio.Redis | redis.Redis,
        *,
        prefix: str = "lyre:session:",
        **client_options: Any,
    ) -> None:
        try:  # fail here, at setup time, rather than on the first request
            import redis
            import redis.asyncio
            import redis.exceptions
        except ModuleNotFoundError:
            raise ImportError(
                "RedisStore needs redis-py: install it with `pip install 'lyre-asgi[redis]'` "
                "(or `pip install redis`)."
            ) from None
        self.prefix = prefix
        self._redis = redis  # the module, resolved once (not imported again per request)
        self._errors = (redis.exceptions.RedisError, OSError)
        self._url: str | None = None
        self._async_client: redis.asyncio.Redis | None = None
        self._sync_client: redis.Redis | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._closer: AsyncGenerator[None] | None = None
        self._client_options = client_options
        if isinstance(url_or_client, str):
            self._url = url_or_client
        else:
            if isinstance(url_or_client, redis.asyncio.Redis):
                self._async_client = url_or_client
            elif isinstance(url_or_client, redis.Redis):
                self._sync_client = url_or_client
            else:
                raise TypeError(
                    "RedisStore takes a redis:// URL, a redis.asyncio.Redis or a redis.Redis client, "
                    f"not {type(url_or_client).__name__}"
                )

    async def load(self, session_id: str) -> dict[str, Any] | None:
        raw = await self._call("get", self.prefix + session_id)
        return None if raw is None else _load_json(raw)

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        await self._call("set", self.prefix + session_id, _session_json(data), ex=max_age)

    async def delete(self, session_id: str) -> None:
        await self._call("delete", self.prefix + session_id)

    async def aclose(self) -> None:
        """Close the clients this store made (a client handed in stays the application's to close)."""
        if self._url is None:
            return
        if self._closer is not None:
            closer, self._closer, self._async_client, self._client_loop = self._closer, None, None, None
            await closer.aclose()  # closes the client (on this loop; see _asyncio_client)
        if self._sync_client is not None:
            sync_client, self._sync_client = self._sync_client, None
            await anyio.to_thread.run_sync(sync_client.close)

    async def _call(self, command: str, *args: Any, **kwargs: Any) -> Any:
        try:
            loop = _running_asyncio_loop()
            if loop is not None and self._sync_client is None:
                client = await self._asyncio_client(loop)
                return await getattr(client, command)(*args, **kwargs)
            sync_client = self._threaded_client()
            return await anyio.to_thread.run_sync(lambda: getattr(sync_client, command)(*args, **kwargs))
        except self._errors as exc:
            # str(), not repr(): redis-py's repr of an error can be a bare category.
            raise SessionStoreUnavailable(
                f"Redis {command.upper()} failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def _asyncio_client(self, loop: asyncio.AbstractEventLoop) -> redis.asyncio.Redis:
        """The ``redis.asyncio`` client for ``loop``: the application's, or one made for this loop.

        A client made here is closed on its own loop when that loop shuts down: an async generator
        holding it is started on the loop, and asyncio closes the loop's unfinished async generators
        (``loop.shutdown_asyncgens()``, which ``asyncio.run``, uvicorn and anyio call) before closing
        it. Without that, a client left behind by a finished loop (a ``TestClient`` without ``with``
        runs each request on a new loop) would leak its sockets with ``ResourceWarning``.
        """
        if self._url is None:
            assert self._async_client is not None
            return self._async_client
        if self._async_client is None or self._client_loop is not loop:
            client = self._redis.asyncio.Redis.from_url(self._url, **self._client_options)
            closer = _close_when_loop_ends(client)
            await closer.asend(None)
            self._async_client, self._client_loop, self._closer = client, loop, closer
        return self._async_client

    def _threaded_client(self) -> redis.Redis:
        if self._sync_client is None:
            if self._url is None:
                raise RuntimeError(
                    "RedisStore was given a redis.asyncio client, which only runs on asyncio; under "
                    "another event loop (trio), give it a redis:// URL or a redis.Redis client."
                )
            self._sync_client = self._redis.Redis.from_url(self._url, **self._client_options)
        return self._sync_client

    def __repr__(self) -> str:
        if self._url is not None:
            return f"RedisStore({_hide_password(self._url)!r})"
        client = self._async_client if self._async_client is not None else self._sync_client
        return f"RedisStore({type(client).__module__}.{type(client).__name__})"


async def _close_when_loop_ends(client: redis.asyncio.Redis) -> AsyncGenerator[None]:
    """Suspended until closed: by ``RedisStore.aclose`` or by the loop's ``shutdown_asyncgens``."""
    try:
        yield
    finally:
        await client.aclose()


def _running_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop, or ``None`` under another event loop (trio)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _hide_password(url: str) -> str:
    """``url`` with a password (``redis://user:secret@host``) replaced by ``***`` (it goes to logs)."""
    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url)


class _SessionState:
    """What ``SessionMiddleware`` with a store tracks per connection (kept in the scope)."""

    __slots__ = ("rotate", "session_id")

    def __init__(self, session_id: str | None) -> None:
        self.session_id = session_id
        self.rotate = False


#: The scope key under which ``SessionMiddleware`` keeps a store-backed connection's session state.
_SCOPE_KEY = "lyre.session_state"


def rotate(connection: HTTPConnection) -> None:
    """Give the request's session a new id when the response starts, keeping its data.

    Call it at log-in (and at any privilege change): an id that someone planted in the browser, or
    read, before that point stops working (session fixation). The old id is deleted from the store.
    With cookie sessions (no store) there is no id to change: the session is just re-signed.
    """
    session = connection.session  # an AssertionError naming SessionMiddleware when it is missing
    state = connection.scope.get(_SCOPE_KEY)
    if isinstance(state, _SessionState):
        state.rotate = True
    mark = getattr(session, "mark_modified", None)
    if mark is not None:
        mark()
