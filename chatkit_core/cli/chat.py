"""``chatkit chat``: one message through the conversation, answered in the terminal, no HTTP app."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import load_config


def cmd_chat(args: argparse.Namespace) -> int:
    return asyncio.run(_chat(args))


async def _chat(args: argparse.Namespace) -> int:
    """One message through the same conversation path as the API, in a conversation of its own
    that is erased afterwards. No HTTP app is built."""
    from chatkit_core.chat.errors import ChatError

    runtime = build_runtime(load_config(args.config))
    conversation = runtime.conversation
    async with runtime.running():
        try:
            session = await conversation.start({})
            try:
                request = await conversation.ask(session.id, args.message)
                async with contextlib.aclosing(conversation.answer_events(session.id, request)) as events:
                    async for event in events:
                        if _show(event):
                            return 1
            finally:
                with contextlib.suppress(Exception):
                    await runtime.store.delete(session.id)
        except ChatError as error:
            print(f"error: {error.message}", file=sys.stderr)
            return 1
    return 0


def _show(event: object) -> bool:
    """Print one event of a streamed answer; True when the answer failed."""
    from chatkit_core.chat import streaming

    if isinstance(event, streaming.Opened):
        tried = f" after {', '.join(event.fallbacks)}" if event.fallbacks else ""
        print(f"[{event.provider} / {event.model}{tried}]", file=sys.stderr)
    elif isinstance(event, streaming.Delta):
        print(event.text, end="", flush=True)
    elif isinstance(event, streaming.Done):
        print()
        for source in event.message.sources:
            print(f"source: {source.title} {source.url}".rstrip(), file=sys.stderr)
    elif isinstance(event, streaming.Failed) and event.fallbacks:
        print(f"error: no provider answered ({', '.join(event.fallbacks)})", file=sys.stderr)
        return True
    elif isinstance(event, streaming.Failed):
        print(f"\nerror: {event.error.message} ({event.error.code})", file=sys.stderr)
        return True
    return False


