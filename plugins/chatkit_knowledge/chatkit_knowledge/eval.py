"""``chatkit eval QUESTIONS.jsonl``: ask every question through the configured chain and count
how often the answer comes from the right page, holds the expected words, or declines.

Each line of the file is one JSON object::

    {"question": "How do I close the server?", "pages": ["reference/server"], "answer_contains": ["close"]}

``pages`` lists the pages that answer it, as the index names them; they match ignoring scheme,
host, file extension, ``#anchor`` and a trailing slash or ``index``. ``"pages": []`` means the site
cannot answer: the right answer is a decline. An optional ``kind`` ("paraphrased", "misspelled",
...) groups the figures.

Every question runs through the same path as ``chatkit chat`` (the app's runtime, in a
conversation of its own that is erased afterwards), so a site owner can run it in CI against
the chain they deploy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from chatkit_core.platform.commands import Command
from chatkit_core.platform.config import ConfigError

if TYPE_CHECKING:
    from chatkit_core.platform.runtime import Runtime

MAX_BYTES = 10_000_000
MAX_QUESTIONS = 10_000
_EXTENSION = re.compile(r"\.(?:html?|mdx?|markdown|txt|php|aspx?)$", re.I)
_MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_\[\]<>#|])")


@dataclass(frozen=True)
class Question:
    question: str
    pages: list[str]
    answer_contains: list[str]
    kind: str = ""

    @property
    def answerable(self) -> bool:
        return bool(self.pages)


@dataclass
class Result:
    question: str
    pages: list[str]
    kind: str
    answerable: bool
    answer: str = ""
    source: str | None = None
    passages: list[str] = field(default_factory=list)
    source_at_1: bool = False
    source_at_k: bool = False
    answer_contains: bool | None = None
    """None when the question lists no expected strings (or cannot be answered)."""
    declined: bool = False
    error: str | None = None


def page_key(url: str) -> str:
    """A page's name for matching: no scheme, host, query, anchor, extension, trailing slash or ``index``."""
    path = urlsplit(url.strip()).path if "://" in url else url.strip().split("#")[0].split("?")[0]
    path = _EXTENSION.sub("", path.strip("/"))
    if path.lower() == "index" or path.lower().endswith("/index"):
        path = path[: -len("index")]
    return path.strip("/").lower()


def read_questions(path: Path) -> list[Question]:
    """The questions of a JSONL file; a bad line raises ConfigError naming it and what to change."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
    if size > MAX_BYTES:
        raise ConfigError(f"{path} is {size:,} bytes; an evaluation file may hold at most {MAX_BYTES:,}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; save it as UTF-8") from None
    questions = [_question(line, number, path) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not questions:
        raise ConfigError(f"{path} holds no questions: write one JSON object a line")
    if len(questions) > MAX_QUESTIONS:
        raise ConfigError(f"{path} holds {len(questions):,} questions; at most {MAX_QUESTIONS:,} per run")
    return questions


def _question(line: str, number: int, path: Path) -> Question:
    where = f"{path}, line {number}"
    try:
        item = json.loads(line)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{where} is not JSON ({error.msg}); write one object a line") from None
    if not isinstance(item, dict):
        raise ConfigError(f'{where} must be an object like {{"question": "...", "pages": ["..."]}}')
    question, pages = item.get("question"), item.get("pages")
    contains, kind = item.get("answer_contains", []), item.get("kind", "")
    if not isinstance(question, str) or not question.strip():
        raise ConfigError(f'{where}: "question" must be a non-empty string')
    if not isinstance(pages, list) or not all(isinstance(p, str) and p.strip() for p in pages):
        raise ConfigError(f'{where}: "pages" must be a list of page names ([] when the site cannot answer)')
    if not isinstance(contains, list) or not all(isinstance(c, str) and c for c in contains):
        raise ConfigError(f'{where}: "answer_contains" must be a list of non-empty strings')
    if not isinstance(kind, str):
        raise ConfigError(f'{where}: "kind" must be a string')
    return Question(question.strip(), pages, contains, kind)


def _plain(answer: str) -> str:
    """The answer as a reader sees it: entities decoded, markdown escapes dropped."""
    return _MARKDOWN_ESCAPE.sub(r"\1", html.unescape(answer))


def _declined(answer: str, sources: list[str]) -> bool:
    from chatkit_knowledge.language import NOT_FOUND

    return not sources or any(answer.startswith(text) for text in NOT_FOUND.values())


def score(question: Question, answer: str, sources: list[str], passages: list[str]) -> Result:
    """One question's result from the answer, its sources and the passages the chain was given."""
    wanted = {page_key(page) for page in question.pages}
    result = Result(question.question, question.pages, question.kind, question.answerable, answer=answer,
                    source=sources[0] if sources else None, passages=passages)
    result.declined = _declined(answer, sources)
    if question.answerable:
        result.source_at_1 = bool(sources) and page_key(sources[0]) in wanted and not result.declined
        result.source_at_k = any(page_key(url) in wanted for url in passages)
        if question.answer_contains:
            shown = _plain(answer).casefold()
            result.answer_contains = not result.declined and any(
                _plain(text).casefold() in shown for text in question.answer_contains)
    return result


async def _ask(runtime: Runtime, question: Question) -> Result:
    from chatkit_core.chat import streaming
    from chatkit_core.chat.errors import ChatError

    conversation = runtime.conversation
    answer, sources, failure, request = "", [], None, None
    try:
        session = await conversation.start({})
        try:
            request = await conversation.ask(session.id, question.question)
            async with contextlib.aclosing(conversation.answer_events(session.id, request)) as events:
                async for event in events:
                    if isinstance(event, streaming.Done):
                        answer, sources = event.message.content, [s.url for s in event.message.sources]
                    elif isinstance(event, streaming.Failed):
                        failure = f"{event.error.message} ({event.error.code})"
        finally:
            with contextlib.suppress(Exception):
                await runtime.store.delete(session.id)
    except ChatError as error:
        failure = error.message
    result = score(question, answer, sources, [p.url for p in request.passages] if request else [])
    result.error = failure
    return result


async def evaluate(config_path: str | None, questions: list[Question]) -> tuple[list[Result], int]:
    """Every question's result, and the configured ``top_k``: the same conversation path as the
    API and ``chatkit chat``, no HTTP app."""
    from chatkit_core.platform.assembly import build_runtime
    from chatkit_core.platform.config import load_config

    config = load_config(config_path)
    if not config.knowledge:
        raise ConfigError(f"{config.source} has no [knowledge] table: chatkit eval measures answers from the "
                          "site's pages; add one and run `chatkit index`")
    runtime = build_runtime(config)
    async with runtime.running():
        results = [await _ask(runtime, question) for question in questions]
    return results, config.knowledge.get("top_k", 4)


def totals(results: list[Result]) -> dict[str, int]:
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    return {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "source_at_1": sum(r.source_at_1 for r in answerable),
        "source_at_k": sum(r.source_at_k for r in answerable),
        "answer_contains": sum(bool(r.answer_contains) for r in answerable),
        "answer_checked": sum(r.answer_contains is not None for r in answerable),
        "declined": sum(r.declined for r in unanswerable),
        "false_declines": sum(r.declined for r in answerable),
        "errors": sum(r.error is not None for r in results),
    }


def report(results: list[Result], top_k: int) -> dict[str, Any]:
    kinds = sorted({r.kind for r in results if r.kind})
    return {**totals(results), "top_k": top_k,
            "kinds": {kind: totals([r for r in results if r.kind == kind]) for kind in kinds},
            "results": [asdict(r) for r in results]}


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "0/0"


def _line(result: Result, top_k: int) -> str:
    if result.error:
        return f"error: {result.error}"
    if not result.answerable:
        return "declined (right)" if result.declined else f"answered from {result.source} (should decline)"
    if result.declined:
        return f"declined (wrong); right page in top {top_k}: {'yes' if result.source_at_k else 'no'}"
    contains = {None: "-", True: "yes", False: "no"}[result.answer_contains]
    return (f"source {'right' if result.source_at_1 else 'wrong'} ({result.source}); right page in top {top_k}: "
            f"{'yes' if result.source_at_k else 'no'}; answer contains: {contains}")


def _summary(counts: dict[str, int], top_k: int, label: str = "total") -> str:
    answerable = counts["answerable"]
    return (f"{label}: {counts['questions']} questions; answerable {answerable}: source right "
            f"{_share(counts['source_at_1'], answerable)}, right page in top {top_k} "
            f"{_share(counts['source_at_k'], answerable)}, answer contains "
            f"{_share(counts['answer_contains'], counts['answer_checked'])}, declined "
            f"{_share(counts['false_declines'], answerable)}; unanswerable {counts['unanswerable']}: declined "
            f"{_share(counts['declined'], counts['unanswerable'])}")


def print_text(summary: dict[str, Any], out: TextIO) -> None:
    top_k = summary["top_k"]
    for number, item in enumerate(summary["results"], 1):
        result = Result(**item)
        kind = f" [{result.kind}]" if result.kind else ""
        print(f"{number}. {result.question}{kind}\n   {_line(result, top_k)}", file=out)
    for kind, counts in summary["kinds"].items():
        print(_summary(counts, top_k, kind), file=out)
    print(_summary(summary, top_k), file=out)


class EvalCommand(Command):
    name = "eval"
    help = "ask the questions of a JSONL file through the chain and report right pages, answers and declines"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("questions", help='JSONL file: {"question": str, "pages": [str], "answer_contains": [str]}')
        parser.add_argument("--json", action="store_true", help="print one JSON object with the totals and results")

    def run(self, args: argparse.Namespace) -> int:
        questions = read_questions(Path(args.questions))
        results, top_k = asyncio.run(evaluate(args.config, questions))
        summary = report(results, top_k)
        if args.json:
            json.dump(summary, sys.stdout, ensure_ascii=False, indent=1)
            print()
        else:
            print_text(summary, sys.stdout)
        return 1 if summary["errors"] else 0
