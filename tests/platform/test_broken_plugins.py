"""A broken plugin never takes ChatKit down: it is reported, skipped, and refused only where used."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.platform.conftest import Site

GOOD_PROVIDER = """
from chatkit_core import hookimpl
from chatkit_core.chat.providers import Chunk, Provider


class Echo(Provider):
    async def stream(self, request):
        yield Chunk(text=request.messages[-1].content)


@hookimpl
def register_providers(register):
    register("{name}", Echo)


@hookimpl
def register_sanitizers(register):
    register("shared", Shared())


class Shared:
    def clean_input(self, text):
        return text

    def clean_output(self, text):
        return text
"""

USES_BROKEN = '[providers.x]\ntype = "broken"\n[rate_limit]\ntype = "none"\n'
USES_CANNED = '[providers.x]\ntype = "canned"\n[rate_limit]\ntype = "none"\n'


def broken_import(site: Site) -> None:
    site.add("chatkit-broken", {"broken": "chatkit_broken"}, {"chatkit_broken": "import no_such_module_here\n"})


def test_a_plugin_that_fails_to_import_is_reported_and_skipped(site):
    broken_import(site)
    help_text = site.chatkit("--help")
    assert help_text.returncode == 0 and "serve" in help_text.stdout and "Traceback" not in help_text.stderr

    listed = site.chatkit("plugins", "--json")
    assert listed.returncode == 1, listed.stderr  # a plugin has a problem: scripts and CI notice
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["broken"]["distribution"] == "chatkit-broken"
    assert rows["broken"]["error"] == (f"{site.path / 'chatkit_broken.py'}, line 1: "
                                       "ModuleNotFoundError: No module named 'no_such_module_here'")
    assert rows["canned"]["registers"] == {"providers": ["canned"]}  # the others still load

    text = site.chatkit("plugins")
    assert text.returncode == 1 and "chatkit-broken" in text.stdout and "pip uninstall chatkit-broken" in text.stdout


def test_config_check_refuses_only_a_config_that_uses_the_broken_plugin(site):
    broken_import(site)
    (site.path / "fine.toml").write_text(USES_CANNED)
    fine = site.chatkit("config", "check", "--config", "fine.toml")
    assert fine.returncode == 0, fine.stderr
    assert "warning: chatkit-broken 0.1 (entry point 'broken') failed to load" in fine.stdout
    (site.path / "uses.toml").write_text(USES_BROKEN)
    refused = site.chatkit("config", "check", "--config", "uses.toml")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("error: providers.x.type: unknown provider type 'broken'")
    assert "chatkit-broken 0.1 (entry point 'broken') failed to load" in refused.stderr
    assert "pip uninstall chatkit-broken" in refused.stderr


def test_serve_refuses_a_config_that_uses_the_broken_plugin(site):
    broken_import(site)
    (site.path / "uses.toml").write_text(USES_BROKEN)
    refused = site.chatkit("serve", "--config", "uses.toml", "--port", "9")
    assert refused.returncode == 1 and "chatkit-broken" in refused.stderr and "Traceback" not in refused.stderr


def test_every_name_clash_is_reported_with_hook_kind_and_distributions(site):
    site.add("chatkit-one", {"one": "chatkit_one"}, {"chatkit_one": GOOD_PROVIDER.replace("{name}", "twin")})
    site.add("chatkit-two", {"two": "chatkit_two"}, {"chatkit_two": GOOD_PROVIDER.replace("{name}", "twin")})
    listed = site.chatkit("plugins")
    assert listed.returncode == 1, listed.stderr
    assert "one " in listed.stdout and "two " in listed.stdout and "canned" in listed.stdout
    assert ("problem: provider type 'twin' is registered by both chatkit-one (entry point 'one') and "
            "chatkit-two (entry point 'two')") in listed.stdout
    assert "problem: sanitizer 'shared' is registered by both chatkit-one" in listed.stdout
    rows = {row["name"]: row for row in json.loads(site.chatkit("plugins", "--json").stdout)}
    assert rows["one"]["registers"] == rows["two"]["registers"] == {"providers": ["twin"], "sanitizers": ["shared"]}
    assert len(rows["one"]["problems"]) == len(rows["two"]["problems"]) == 2 and rows["canned"]["problems"] == []

    (site.path / "chatkit.toml").write_text(USES_CANNED.replace("canned", "twin"))
    refused = site.chatkit("config", "check")
    assert refused.returncode == 1
    assert "provider type 'twin' is registered by both" in refused.stderr
    assert "sanitizer 'shared' is registered by both" in refused.stderr  # both at once


def test_unknown_load_plugins_name_is_a_friendly_error(site):
    result = site.chatkit("plugins", CHATKIT_LOAD_PLUGINS="nonexistent")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: CHATKIT_LOAD_PLUGINS names 'nonexistent', which is not installed")
    assert site.chatkit("--help", CHATKIT_LOAD_PLUGINS="nonexistent").returncode == 0


def test_a_misspelled_hook_is_reported_naming_the_plugin(site):
    source = GOOD_PROVIDER.replace("def register_providers", "def register_provider").replace("{name}", "typo")
    site.add("chatkit-typo", {"typo": "chatkit_typo"}, {"chatkit_typo": source})
    listed = site.chatkit("plugins")
    assert ("problem: chatkit-typo (entry point 'typo') implements register_provider, which is not a ChatKit hook "
            "(did you mean register_providers?)") in listed.stdout
    (site.path / "chatkit.toml").write_text(USES_CANNED.replace("canned", "typo"))
    refused = site.chatkit("config", "check")
    assert refused.returncode == 1 and "implements register_provider, which is not a ChatKit hook" in refused.stderr


def test_a_broken_command_plugin_leaves_help_and_other_commands_working(site):
    site.add("chatkit-cmds", {"cmds": "chatkit_cmds"}, {"chatkit_cmds": """
        from chatkit_core import hookimpl
        from chatkit_core.platform.commands import Command


        class Broken(Command):
            name = "broken"
            help = "fails to declare its options"

            def add_arguments(self, parser):
                raise RuntimeError("oops")

            def run(self, args):
                return 0


        class Hello(Command):
            name = "hello"
            help = "says hello"

            def add_arguments(self, parser):
                parser.add_argument("--who", default="world")

            def run(self, args):
                print("hello", args.who)
                return 0


        @hookimpl
        def register_commands(register):
            register(Broken())
            register(Hello())
            register(print)
        """})
    help_text = site.chatkit("--help")
    assert help_text.returncode == 0 and "says hello" in help_text.stdout and "broken" not in help_text.stdout
    assert site.chatkit("hello", "--who", "you").stdout == "hello you\n"
    listed = site.chatkit("plugins").stdout
    assert "registers command 'broken', but its add_arguments(parser) raised RuntimeError: oops" in listed
    assert "is not a chatkit_core.platform.commands.Command instance" in listed


def test_plugins_load_on_first_use_not_at_import():
    probe = ("import sys, chatkit_core.platform.plugins, chatkit_core.http.app, chatkit_core.platform.assembly\n"
             "print(sorted(m for m in sys.modules if m.startswith(('chatkit_canned', 'chatkit_ollama'))))\n"
             "chatkit_core.platform.plugins.collect('register_providers')\n"
             "print('chatkit_canned' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[:2] == ["[]", "True"]
