"""``ServerErrorMiddleware``: the outermost layer; answers unhandled errors with a 500 and re-raises.

lyre: a ``ClientDisconnect`` (the client hung up while the body was read) is not a server error: it
ends the request quietly (no 500, nothing re-raised to the server), as lyre's route adapters do.

With ``debug=True`` it answers with a traceback page (HTML when the client accepts ``text/html``,
plain text otherwise), built in a worker thread because reading source files is blocking I/O.
"""

from __future__ import annotations

import html
import inspect
import traceback

from lyre._exception_handler import ends_quietly, tracked
from lyre._utils import is_async_callable
from lyre.concurrency import run_in_threadpool
from lyre.requests import ClientDisconnect, Request
from lyre.responses import HTMLResponse, PlainTextResponse, Response
from lyre.types import ASGIApp, ExceptionHandler, Message, Receive, Scope, Send

__all__ = [
    "CENTER_LINE",
    "FRAME_TEMPLATE",
    "JS",
    "LINE",
    "STYLES",
    "TEMPLATE",
    "ExceptionHandler",
    "HTMLResponse",
    "Message",
    "PlainTextResponse",
    "Request",
    "Response",
    "ServerErrorMiddleware",
    "is_async_callable",
    "run_in_threadpool",
]

STYLES = """
body { font-family: ui-sans-serif, system-ui, sans-serif; margin: 2rem; color: #1f2328; }
h1 { font-size: 1.6rem; color: #b42318; margin-bottom: 0.3rem; }
h2 { font-size: 1.1rem; font-weight: 600; margin-top: 0; word-break: break-word; }
.frame { border: 1px solid #d0d7de; border-radius: 6px; margin: 0.8rem 0; overflow: hidden; }
.frame-title { background: #f6f8fa; padding: 0.45rem 0.8rem; cursor: pointer; font-size: 0.9rem; }
.frame-title code { font-weight: 600; }
.source { margin: 0; padding: 0.4rem 0; background: #fff; font-size: 0.85rem; }
.source div { white-space: pre; padding: 0 0.8rem; font-family: ui-monospace, monospace; }
.source .current { background: #ffebe9; font-weight: 600; }
.collapsed .source { display: none; }
.lineno { color: #8c959f; display: inline-block; min-width: 3.5rem; }
"""

JS = """
document.querySelectorAll('.frame-title').forEach(function (title) {
  title.addEventListener('click', function () {
    title.parentElement.classList.toggle('collapsed');
  });
});
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>lyre debugger</title><style>{styles}</style></head>
<body>
<h1>500 Server Error</h1>
<h2>{error}</h2>
<p>Traceback, innermost call first:</p>
{frames}
<script>{js}</script>
</body>
</html>
"""

FRAME_TEMPLATE = """<div class="frame{collapsed}">
<div class="frame-title">File <code>{filename}</code>, line <i>{lineno}</i>, in <b>{function}</b></div>
<div class="source">{lines}</div>
</div>
"""

LINE = """<div><span class="lineno">{lineno}.</span>{line}</div>"""

CENTER_LINE = """<div class="current"><span class="lineno">{lineno}.</span>{line}</div>"""


class ServerErrorMiddleware:
    """Catches every exception of an ``http`` request, sends a 500 if nothing was sent, re-raises."""

    def __init__(self, app: ASGIApp, handler: ExceptionHandler | None = None, debug: bool = False) -> None:
        self.app = app
        self.handler = handler
        self.debug = debug

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracker, tracked_send = tracked(send)
        try:
            await self.app(scope, receive, tracked_send)
        except ClientDisconnect as exc:
            if ends_quietly(exc):
                return  # lyre: the client left; nobody to answer and nothing for the server to log
            await self.answer_error(exc, scope, receive, send, tracker.started)
            raise exc  # made from the server's failing send: the server's news
        except Exception as exc:
            await self.answer_error(exc, scope, receive, send, tracker.started)
            raise exc

    async def answer_error(
        self, exc: Exception, scope: Scope, receive: Receive, send: Send, started: bool
    ) -> None:
        """Send the 500 (handler, debug page or plain text) unless a response already started."""
        # No receive channel: the error handler must not try to read the body again.
        request = Request(scope)
        if self.debug:
            response = await run_in_threadpool(self.debug_response, request, exc)
        elif self.handler is None:
            response = self.error_response(request, exc)
        elif is_async_callable(self.handler):
            response = await self.handler(request, exc)  # type: ignore[arg-type, misc]
        else:
            response = await run_in_threadpool(self.handler, request, exc)  # type: ignore[arg-type]
        if not started and response is not None:
            await response(scope, receive, send)

    def format_line(self, index: int, line: str, frame_lineno: int, frame_index: int) -> str:
        lineno = frame_lineno - frame_index + index
        template = CENTER_LINE if index == frame_index else LINE
        return template.format(lineno=lineno, line=html.escape(line.rstrip("\n")).replace(" ", "&nbsp;"))

    def generate_frame_html(self, frame: inspect.FrameInfo, is_collapsed: bool) -> str:
        lines = "".join(
            self.format_line(i, line, frame.lineno, frame.index or 0)
            for i, line in enumerate(frame.code_context or [])
        )
        return FRAME_TEMPLATE.format(
            collapsed=" collapsed" if is_collapsed else "",
            filename=html.escape(frame.filename),
            lineno=frame.lineno,
            function=html.escape(frame.function),
            lines=lines,
        )

    def generate_html(self, exc: Exception, limit: int = 7) -> str:
        frames = inspect.getinnerframes(exc.__traceback__, limit) if exc.__traceback__ else []
        blocks = [self.generate_frame_html(f, is_collapsed=i > 0) for i, f in enumerate(reversed(frames))]
        error = html.escape(f"{type(exc).__name__}: {exc}")
        return TEMPLATE.format(styles=STYLES, js=JS, error=error, frames="".join(blocks))

    def generate_plain_text(self, exc: Exception) -> str:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))

    def debug_response(self, request: Request, exc: Exception) -> Response:
        accept = request.headers.get("accept", "")
        if "text/html" in accept:
            return HTMLResponse(self.generate_html(exc), status_code=500)
        return PlainTextResponse(self.generate_plain_text(exc), status_code=500)

    def error_response(self, request: Request, exc: Exception) -> Response:
        return PlainTextResponse("Internal Server Error", status_code=500)
