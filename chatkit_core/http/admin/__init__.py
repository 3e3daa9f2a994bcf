"""The operator's console at ``/admin`` and the retention sweep, as one Litestar plugin.

Without ``[admin] token`` no console route exists, so ``/admin`` is a 404 like any unknown
address. The sweep that erases expired conversations (and, with ``[admin] retention``, those
idle for longer) runs whether or not the console is on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import structlog
from litestar import Litestar, Request, Response, Router
from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from chatkit_core.chat.sessions import StoreUnavailable
from chatkit_core.durations import parse_duration
from chatkit_core.platform.runtime import Runtime

# The console's views, templates and sign-in load only when ``[admin] token`` turns it on.
if TYPE_CHECKING:
    from chatkit_core.http.admin.auth import CsrfRefused, SignInRequired

log = structlog.get_logger("chatkit.admin")

SWEEP_EVERY = 300.0


def _sign_in_first(request: Request, _: SignInRequired) -> Response:
    from chatkit_core.http.admin.pages import HEADERS, render

    if request.method == "GET":
        return Redirect("/admin/login", headers=HEADERS)
    return render(request, "refused.html", status=403, reason="Please sign in again.")


def _csrf_refused(request: Request, _: CsrfRefused) -> Response:
    from chatkit_core.http.admin.pages import render

    return render(request, "refused.html", status=403,
                  reason="This change was refused because the form was not sent from this console.")


def _store_down(request: Request, error: StoreUnavailable) -> Response:
    from chatkit_core.http.admin.pages import render

    log.error("store_unavailable", error=str(error))
    return render(request, "refused.html", status=503, reason="Conversations are unavailable right now.")


def console_router(handoff: bool) -> Router:
    from chatkit_core.http.admin import attachments, experiments, handoff_views, views
    from chatkit_core.http.admin.auth import CsrfRefused, SignInRequired, signed_in
    from chatkit_core.http.admin.pages import STATIC

    static = create_static_files_router("/static", [STATIC], name="admin-static", opt={"public": True},
                                        include_in_schema=False)
    pages: list[Any] = [*views.HANDLERS, *experiments.HANDLERS, *attachments.HANDLERS,
                        *(handoff_views.HANDLERS if handoff else []), static]
    return Router("/admin", route_handlers=pages, guards=[signed_in], include_in_schema=False,
                  exception_handlers={SignInRequired: _sign_in_first, CsrfRefused: _csrf_refused,
                                      StoreUnavailable: _store_down})


class Console(InitPluginProtocol):
    def __init__(self, runtime: Runtime) -> None:
        self.config = runtime.config.admin
        self.session_ttl = runtime.store.ttl
        self.listing = runtime.listing
        self.handoff = runtime.handoff is not None

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        if self.listing is None:  # the store keeps its own expiry and offers no listing
            if self.config.token:
                log.warning("console_off", reason="the session store cannot list conversations")
            return app_config
        app_config.lifespan.append(self._sweeping)
        if self.config.token:
            from chatkit_core.chat.experiment_results import ResultsCache
            from chatkit_core.http.admin.auth import Attempts, Keys

            app_config.route_handlers.append(console_router(self.handoff))
            if self.handoff:
                from chatkit_core.http.admin.operator_api import operator_router

                app_config.route_handlers.append(operator_router())
            app_config.state["admin_keys"] = Keys(self.config.token, self.config.sign_in_ttl)
            app_config.state["admin_attempts"] = Attempts()
            app_config.state["experiment_results"] = ResultsCache()
        return app_config

    @contextlib.asynccontextmanager
    async def _sweeping(self, app: Litestar) -> AsyncIterator[None]:
        task = asyncio.create_task(self._sweep(app))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _sweep(self, app: Litestar) -> None:
        """Erase conversations idle for longer than the retention period (or expired: that also
        clears what a store keeps beside its sessions, such as Redis's console index)."""
        keep = min(parse_duration(self.config.retention), self.session_ttl) if self.config.retention \
            else self.session_ttl
        while True:
            try:
                assert self.listing is not None
                erased = await self.listing.erase_inactive(time.time() - keep)
                if erased:
                    log.info("conversations_erased", conversations=erased, retention=self.config.retention or None)
            except NotImplementedError:
                return  # a store without the console's methods keeps its own expiry
            except StoreUnavailable as error:
                log.warning("retention_sweep_failed", error=str(error))
            await asyncio.sleep(min(SWEEP_EVERY, keep / 4))
