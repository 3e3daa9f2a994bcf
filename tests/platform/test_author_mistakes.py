"""A plugin author's mistakes are caught where they are made: when the plugin registers, or by
``chatkit config check``, in one line naming the plugin and the fix, never a traceback."""

from __future__ import annotations

from tests.platform.conftest import Site


def plugin(site: Site, body: str) -> None:
    site.add("chatkit-mistake", {"mistake": "chatkit_mistake"}, {"chatkit_mistake": body})


def check(site: Site, config: str) -> tuple[int, str]:
    (site.path / "chatkit.toml").write_text(config + '\n[rate_limit]\ntype = "none"\n')
    done = site.chatkit("config", "check", "--config", "chatkit.toml")
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done.returncode, done.stderr.strip()


def test_a_stream_that_is_not_an_async_generator_is_refused_at_registration(site):
    plugin(site, """
from chatkit_core import hookimpl
from chatkit_core.chat.providers import Chunk, Provider

class Plain(Provider):
    def stream(self, request):
        return [Chunk(text="hi")]

@hookimpl
def register_providers(register):
    register("plain", Plain)
""")
    code, error = check(site, '[providers.p]\ntype = "plain"')
    assert code == 1 and "chatkit-mistake" in error and "Plain.stream must be an async generator" in error
    assert len(error.splitlines()) == 1
    listed = site.chatkit("plugins")
    assert listed.returncode == 1 and "Plain.stream must be an async generator" in listed.stdout


def test_a_constructor_that_cannot_take_the_options_is_refused(site):
    plugin(site, """
from chatkit_core import hookimpl
from chatkit_core.chat.providers import Chunk, Provider

class Strict(Provider):
    def __init__(self, name):
        super().__init__(name, None)

    async def stream(self, request):
        yield Chunk(text="hi")

@hookimpl
def register_providers(register):
    register("strict", Strict)
""")
    code, error = check(site, '[providers.s]\ntype = "strict"')
    assert code == 1 and "Strict.__init__ must accept (name, options)" in error and len(error.splitlines()) == 1


def test_a_retriever_that_cannot_start_fails_config_check_and_serve_in_one_line(site):
    plugin(site, """
from chatkit_core import hookimpl
from chatkit_core.chat.knowledge import Retriever

class Broken(Retriever):
    async def start(self):
        raise OSError("index file is unreadable")

    async def search(self, query, limit):
        return []

@hookimpl
def register_retrievers(register):
    register("broken", Broken)
""")
    config = '[providers.c]\ntype = "canned"\n[knowledge]\ntype = "broken"'
    code, error = check(site, config)
    assert code == 1 and error == ("error: knowledge: the broken knowledge could not start: "
                                   "OSError: index file is unreadable")
    served = site.chatkit("serve", "--config", "chatkit.toml", "--port", "9")
    assert served.returncode == 1 and "index file is unreadable" in served.stderr
    assert "Traceback" not in served.stderr and len(served.stderr.strip().splitlines()) == 1


def test_a_constructor_that_raises_is_one_line_naming_the_key(site):
    plugin(site, """
from chatkit_core import hookimpl
from chatkit_core.chat.providers import Chunk, Provider

class Crashes(Provider):
    def __init__(self, name, options):
        raise KeyError("model")

    async def stream(self, request):
        yield Chunk(text="hi")

@hookimpl
def register_providers(register):
    register("crashes", Crashes)
""")
    code, error = check(site, '[providers.c]\ntype = "crashes"')
    assert code == 1 and error == "error: providers.c: Crashes could not be built: KeyError: 'model'"


def test_a_hook_without_hookimpl_is_reported(site):
    plugin(site, """
from chatkit_core.chat.providers import Chunk, Provider

class Echo(Provider):
    async def stream(self, request):
        yield Chunk(text="hi")

def register_providers(register):
    register("forgotten", Echo)
""")
    listed = site.chatkit("plugins")
    assert listed.returncode == 1
    assert ("chatkit-mistake (entry point 'mistake') defines register_providers without @hookimpl, so it is "
            "never called: decorate it with chatkit_core.hookimpl") in listed.stdout


def test_an_exception_before_the_first_chunk_fails_over(site):
    plugin(site, """
from chatkit_core import hookimpl
from chatkit_core.chat.providers import Chunk, Provider

class Fails(Provider):
    async def stream(self, request):
        raise ZeroDivisionError("a bug")
        yield Chunk(text="never")

@hookimpl
def register_providers(register):
    register("fails", Fails)
""")
    (site.path / "chatkit.toml").write_text('[chain]\norder = ["bad", "good"]\n[providers.bad]\ntype = "fails"\n'
                                            '[providers.good]\ntype = "canned"\nreplies = ["from the next one"]\n')
    answered = site.chatkit("chat", "--config", "chatkit.toml", "hello")
    assert answered.returncode == 0 and "from the next one" in answered.stdout
    assert "after bad:crash" in answered.stderr
