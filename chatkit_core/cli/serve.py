"""``chatkit serve``: the HTTP app under uvicorn, with the slow-client guard."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import ConfigError, find_config_path, load_config
from chatkit_core.platform.plugins import PluginError
from chatkit_core.platform.runtime import Runtime


def load(path: str | None) -> Runtime:
    """The runtime the config builds, checked by building the HTTP app exactly as ``serve`` does
    (nothing is started: nothing connects)."""
    runtime = build_runtime(load_config(path))
    from chatkit_core.http.app import create_app

    try:
        create_app(runtime)
    except (ConfigError, PluginError):
        raise
    except Exception as error:
        raise ConfigError(f"the server could not be built from this config: {type(error).__name__}: {error}") from None
    return runtime


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from chatkit_core.http import serving

    runtime = load(args.config)
    asyncio.run(runtime.try_start())  # a part that cannot start fails here, in one line, not in every worker
    config = runtime.config
    workers = args.workers or config.server.workers
    if workers > 1 and runtime.store_type == "memory":
        raise ConfigError(f"sessions.store = \"memory\" keeps conversations inside one process, so {workers} workers "
                          "would each see a different part of them; use store = \"sqlite\" or \"redis\"")
    found = find_config_path(args.config)
    if found is not None:  # worker processes read the same file
        os.environ["CHATKIT_CONFIG"] = str(found.resolve())
    host = args.host or config.server.host
    port = args.port or config.server.port
    print(f"ChatKit on http://{host}:{port}  (config: {config.source})", file=sys.stderr)
    uvicorn.run(
        "chatkit_core.http.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
        log_level=config.logging.level, access_log=False, server_header=False,
        # X-Forwarded-For is read by ChatKit itself, from server.trusted_proxies only.
        proxy_headers=False, timeout_graceful_shutdown=10,
        # Slow clients: a header deadline and a connection cap (chatkit_core/serving.py).
        http=serving.PROTOCOL, timeout_keep_alive=serving.KEEP_ALIVE_TIMEOUT,
        limit_concurrency=serving.concurrency_limit(),
    )
    return 0


