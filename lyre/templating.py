"""Jinja2 templates rendered into HTML responses (``Jinja2Templates``; needs ``jinja2``).

lyre accepts, besides ``TemplateResponse(request, name, context, ...)``, the pre-1.0 call form
``TemplateResponse(name, {"request": request, ...}, ...)`` and ``Jinja2Templates(directory, **env_options)``,
each with a ``StarletteDeprecationWarning`` naming the current form. A missing template raises
``jinja2.TemplateNotFound`` whose message also names the directories searched.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

from lyre.background import BackgroundTask
from lyre.datastructures import URL as URL
from lyre.exceptions import StarletteDeprecationWarning
from lyre.responses import HTMLResponse
from lyre.types import Receive, Scope, Send

try:
    import jinja2

    # ``pass_context`` is re-exported here, as in Starlette.
    from jinja2 import pass_context as pass_context
except ModuleNotFoundError:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "jinja2 must be installed to use Jinja2Templates (install it with `pip install jinja2`, "
        "or `pip install 'lyre-asgi[full]'`)."
    ) from None

from lyre.requests import Request

__all__ = ["Jinja2Templates", "pass_context"]

_TEMPLATE_RESPONSE_PARAMS = ("status_code", "headers", "media_type", "background")
_HeaderMap = Mapping[str, str]


class _TemplateResponse(HTMLResponse):
    """An ``HTMLResponse`` that remembers its ``template`` and ``context`` (for test clients)."""

    def __init__(
        self,
        template: Any,
        context: dict[str, Any],
        status_code: int = 200,
        headers: _HeaderMap | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(template.render(context), status_code, headers, media_type, background)
        self.template = template
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extensions = scope.get("extensions")
        if extensions and "http.response.debug" in extensions:
            await send(
                {
                    "type": "http.response.debug",
                    "info": {"template": self.template, "context": self.context},
                }
            )
        await super().__call__(scope, receive, send)


@pass_context
def _url_for(context: dict[str, Any], name: str, /, **path_params: Any) -> URL:
    """``{{ url_for('name', **params) }}``: the absolute URL of a named route."""
    request: Request = context["request"]
    return request.url_for(name, **path_params)


class Jinja2Templates:
    """Loads templates from ``directory`` (or uses ``env``) and renders ``TemplateResponse``\\ s."""

    @overload
    def __init__(
        self,
        directory: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        context_processors: list[Callable[[Request], dict[str, Any]]] | None = None,
        **env_options: Any,
    ) -> None: ...

    @overload
    def __init__(
        self,
        *,
        env: jinja2.Environment,
        context_processors: list[Callable[[Request], dict[str, Any]]] | None = None,
    ) -> None: ...

    def __init__(
        self,
        directory: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        *,
        context_processors: list[Callable[[Request], dict[str, Any]]] | None = None,
        env: jinja2.Environment | None = None,
        **env_options: Any,
    ) -> None:
        assert bool(directory) ^ bool(env), "either 'directory' or 'env' arguments must be passed"
        self.context_processors = context_processors or []
        if env is not None:
            if env_options:
                raise TypeError(
                    "Jinja2 environment options cannot be combined with 'env': configure the "
                    "jinja2.Environment you pass instead."
                )
            self.env = env
        else:
            assert directory is not None
            if env_options:
                # lyre: the pre-1.0 ``**env_options`` still work (Starlette 1.x raises TypeError).
                warnings.warn(
                    "Passing Jinja2 environment options to Jinja2Templates is deprecated; "
                    "create a jinja2.Environment and pass it with Jinja2Templates(env=...) instead.",
                    StarletteDeprecationWarning,
                    stacklevel=2,
                )
            env_options.setdefault("loader", jinja2.FileSystemLoader(directory))
            env_options.setdefault("autoescape", jinja2.select_autoescape())
            self.env = jinja2.Environment(**env_options)
        self.env.globals.setdefault("url_for", _url_for)

    def get_template(self, name: str) -> jinja2.Template:
        """``env.get_template(name)``; a missing template's error names the directories searched."""
        try:
            return self.env.get_template(name)
        except jinja2.TemplatesNotFound:
            raise
        except jinja2.TemplateNotFound as exc:
            if exc.name != name:  # a missing template included by ``name``: already precise
                raise
            where = _describe_loader(self.env.loader)
            raise jinja2.TemplateNotFound(name, f"Template {name!r} not found; {where}.") from exc

    @overload
    def TemplateResponse(
        self,
        request: Request,
        name: str,
        context: dict[str, Any] | None = None,
        status_code: int = 200,
        headers: _HeaderMap | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> _TemplateResponse: ...

    @overload
    def TemplateResponse(
        self,
        name: str,
        context: dict[str, Any],
        status_code: int = 200,
        headers: _HeaderMap | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> _TemplateResponse: ...

    def TemplateResponse(self, *args: Any, **kwargs: Any) -> _TemplateResponse:
        """Render ``name`` with ``context`` (plus ``request`` and context processors) now.

        Current form: ``TemplateResponse(request, name, context=None, status_code=200, headers=None,
        media_type=None, background=None)``. lyre also accepts the pre-1.0 form
        ``TemplateResponse(name, context, ...)`` where ``context["request"]`` is the request (told
        apart by a ``str`` first argument, or by no ``request`` keyword), with a deprecation warning.
        """
        if (args and isinstance(args[0], str)) or (not args and "request" not in kwargs):
            keyword_request = kwargs.pop("request", None)  # ``TemplateResponse("x.html", request=r)``
            params = _bind("name", "context", *_TEMPLATE_RESPONSE_PARAMS, args=args, kwargs=kwargs)
            if "name" not in params:
                raise TypeError("TemplateResponse() missing 1 required positional argument: 'name'")
            warnings.warn(
                "The `name` is not the first parameter anymore. The first parameter should be the "
                "`Request` instance: use TemplateResponse(request, name, context) instead of "
                'TemplateResponse(name, {"request": request, ...}).',
                StarletteDeprecationWarning,
                stacklevel=2,
            )
            context = params.get("context")
            if keyword_request is not None:
                context = context or {}
                context.setdefault("request", keyword_request)
            if not context or "request" not in context:
                raise ValueError('context must include a "request" key')
            request = context["request"]
        else:
            params = _bind("request", "name", "context", *_TEMPLATE_RESPONSE_PARAMS, args=args, kwargs=kwargs)
            for required in ("request", "name"):
                if required not in params:
                    raise TypeError(
                        f"TemplateResponse() missing 1 required positional argument: '{required}'"
                    )
            request = params["request"]
            context = params.get("context") or {}
            context.setdefault("request", request)
        for processor in self.context_processors:
            context.update(processor(request))
        template = self.get_template(params["name"])
        return _TemplateResponse(
            template,
            context,
            status_code=params.get("status_code", 200),
            headers=params.get("headers"),
            media_type=params.get("media_type"),
            background=params.get("background"),
        )


def _bind(*names: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Map positional and keyword arguments onto ``names`` like a Python signature would."""
    if len(args) > len(names):
        raise TypeError(
            f"TemplateResponse() takes at most {len(names)} positional arguments but {len(args)} were given"
        )
    params = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in names:
            raise TypeError(f"TemplateResponse() got an unexpected keyword argument '{key}'")
        if key in params:
            raise TypeError(f"TemplateResponse() got multiple values for argument '{key}'")
        params[key] = value
    return params


def _describe_loader(loader: jinja2.BaseLoader | None) -> str:
    if isinstance(loader, jinja2.FileSystemLoader):
        searched = ", ".join(repr(os.fspath(path)) for path in loader.searchpath)
        return f"searched directories: {searched}"
    if isinstance(loader, jinja2.ChoiceLoader):
        return "; ".join(_describe_loader(inner) for inner in loader.loaders)
    if loader is None:
        return "the Jinja2 environment has no loader"
    return f"searched with {type(loader).__name__}"
