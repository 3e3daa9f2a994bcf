"""``[experiments.NAME]``: every variant's overrides merged into the base config and built with
the base config's own checks (the providers through ``build_providers``, ``[chat]`` and
``[chain]`` through their Structs, ``[knowledge]`` through the retriever's Options), so a bad
variant is refused at start-up, and by ``chatkit config check``, naming its key.

    [experiments.tone]
    enabled = true                       # false: ended; answered conversations keep their variant
    [experiments.tone.variants.a]
    weight = 50
    [experiments.tone.variants.b]
    weight = 50
    [experiments.tone.variants.b.chat]
    system_prompt = "Answer in two sentences."

A variant may change ``[chat]`` ``system_prompt`` and ``max_tokens``, ``[chain]`` ``order``,
any option of a ``[providers.NAME]`` but its server and queue (which it shares with the base
config), and ``[knowledge]``'s per-question settings. Every piece is built once, here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from chatkit_core.chat.answer_cache import CachedAnswers
from chatkit_core.chat.chain import Chain, ChainConfig
from chatkit_core.chat.experiments import Experiment, Experiments, Variant
from chatkit_core.chat.knowledge import Knowledge, RetrieverOptions
from chatkit_core.chat.providers import Provider
from chatkit_core.chat.turn import ChatConfig
from chatkit_core.models import VariantTag
from chatkit_core.platform.config import Config, ConfigError, convert, options

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
"""Experiment and variant names become metrics labels and console headings: short and plain."""
MAX_VARIANTS = 10

# What a variant may change, by section; a provider's own options are all allowed but SHARED.
OVERRIDES: dict[str, tuple[str, ...]] = {
    "chat": ("system_prompt", "max_tokens"),
    "chain": ("order",),
    "knowledge": ("top_k", "min_score", "max_context_chars", "prompt_template", "contact", "general_knowledge",
                  "timeout"),
    "providers": (),
}
SHARED = ("type", "base_url", "max_concurrency", "max_queue")
"""A provider's server and queue: the same for every variant, so its capacity is counted once."""


@dataclass
class _Base:
    """The base config's built pieces, which every variant starts from."""

    config: Config
    chain: Chain
    knowledge: Knowledge | None
    cache: CachedAnswers | None
    warnings: list[str]
    built: dict[str, Provider] = field(default_factory=dict)
    """Providers built from an unchanged ``[providers.NAME]`` table, shared by every chain using them."""


def build_experiments(config: Config, chain: Chain, knowledge: Knowledge | None, cache: CachedAnswers | None,
                      warnings: list[str]) -> Experiments:
    base = _Base(config, chain, knowledge, cache, warnings, {p.name: p for p in chain.providers})
    experiments = [_experiment(base, name, table) for name, table in config.experiments.items()]
    running = [experiment.name for experiment in experiments if experiment.enabled]
    if len(running) > 1:
        raise ConfigError(f"experiments: {running[0]} and {running[1]} are both enabled; one experiment runs at a "
                          "time (set enabled = false on the one that ended: its results stay readable)")
    return Experiments(experiments, chain.metrics)


def _experiment(base: _Base, name: str, table: Any) -> Experiment:
    key = f"experiments.{name}"
    _check_name(key, name)
    _keys(key, table, ("enabled", "variants"), f"[{key}] with a [{key}.variants.NAME] table for each variant")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{key}.enabled: must be true or false")
    variants = table.get("variants", {})
    if not isinstance(variants, dict) or not 2 <= len(variants) <= MAX_VARIANTS:
        raise ConfigError(f"{key}.variants: an experiment needs 2 to {MAX_VARIANTS} variants, each a "
                          f"[{key}.variants.NAME] table with a weight")
    built = [_variant(base, name, variant, variant_table) for variant, variant_table in variants.items()]
    if enabled and not any(variant.weight for variant in built):
        raise ConfigError(f"{key}: every variant has weight 0, so no conversation can join; give one a weight, "
                          "or end the experiment with enabled = false")
    return Experiment(name, enabled, built)


def _variant(base: _Base, experiment: str, name: str, table: Any) -> Variant:
    from chatkit_core.platform.assembly import build_providers  # assembly calls this module

    key = f"experiments.{experiment}.variants.{name}"
    _check_name(key, name)
    _keys(key, table, ("weight", *OVERRIDES), f"[{key}] with a weight and the tables it overrides")
    weight = table.get("weight")
    if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
        raise ConfigError(f"{key}.weight: must be a whole number, 0 or more (the variant's share of new "
                          f"conversations), got {weight!r}")
    changes = {section: _changes(key, section, table.get(section, {})) for section in OVERRIDES}
    config = base.config
    chat = convert({**msgspec.to_builtins(config.chat), **changes["chat"]}, ChatConfig, f"{key}.chat")
    chain_config = convert({**msgspec.to_builtins(config.chain), **changes["chain"]}, ChainConfig, f"{key}.chain")
    tables = _provider_tables(config, key, changes["providers"])
    order = chain_config.order or list(tables)
    unused = next((name for name in changes["providers"] if name not in order), None)
    if unused is not None:
        raise ConfigError(f"{key}.providers.{unused}: the variant's chain ({', '.join(order)}) does not use this "
                          f"provider; name it in [{key}.chain] order, or leave the table out")
    reuse = {n: p for n, p in base.built.items() if n not in changes["providers"]}
    merged = msgspec.structs.replace(config, chat=chat, chain=chain_config, providers=tables)
    providers, _ = build_providers(merged, base.warnings, prefix=f"{key}.", built=reuse)
    base.built.update({p.name: p for p in providers if p.name not in changes["providers"]})
    tag = VariantTag(experiment, name)
    chain = Chain(providers, chain_config, base.chain.metrics, max_tokens=chat.max_tokens, shared=base.chain)
    cache = base.cache and CachedAnswers(base.cache.cache, base.cache.type_name, chat.system_prompt, providers,
                                         base.knowledge, config.chat.history, base.chain.metrics, variant=tag)
    listed = [f"{section}.{option}" for section, table in changes.items() if section != "providers" for option in table]
    listed += [f"providers.{p}.{option}" for p, table in changes["providers"].items() for option in table]
    return Variant(experiment, name, weight, chain=chain, system_prompt=chat.system_prompt, cache=cache,
                   knowledge=_knowledge(base, key, changes["knowledge"]), changes=listed)


def _check_name(key: str, name: str) -> None:
    if not NAME.match(name):
        raise ConfigError(f"{key}: {name!r} cannot name an experiment or a variant; use up to 32 letters, digits, "
                          "- and _ (it becomes a metrics label)")


def _keys(key: str, table: Any, allowed: tuple[str, ...], shape: str) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{key}: must be a table: {shape}")
    unknown = next((name for name in table if name not in allowed), None)
    if unknown is not None:
        raise ConfigError(f"{key}: unknown key `{unknown}`; allowed keys: {', '.join(allowed)}")


def _changes(key: str, section: str, table: Any) -> dict[str, Any]:
    """A variant's ``[…variants.VARIANT.SECTION]`` table, holding only what a variant may change."""
    where = f"{key}.{section}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table of the {section} settings the variant changes")
    allowed = OVERRIDES[section]
    for option in table:
        if allowed and option not in allowed:
            raise ConfigError(f"{where}.{option}: a variant cannot change this; it may change "
                              + ", ".join(f"{section}.{name}" for name in allowed))
    return table


def _provider_tables(config: Config, key: str, changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``[providers.*]`` with the variant's changes to each; a provider's server and queue stay."""
    tables = dict(config.providers)
    for name, change in changes.items():
        where = f"{key}.providers.{name}"
        if name not in tables:
            raise ConfigError(f"{where}: there is no [providers.{name}] table to change; a variant changes the "
                              f"options of defined providers ({', '.join(tables) or 'none'})")
        if not isinstance(change, dict):
            raise ConfigError(f"{where}: must be a table of the provider's options the variant changes")
        for option in SHARED:
            if option in change:
                raise ConfigError(f"{where}.{option}: a variant shares a provider's server and queue ("
                                  f"{', '.join(SHARED)}) with the base config; to try another server, add a "
                                  "[providers.NEW] table and name it in the variant's chain.order")
        tables[name] = {**tables[name], **change}
    return tables


def _knowledge(base: _Base, key: str, changes: dict[str, Any]) -> RetrieverOptions | None:
    if base.knowledge is None:
        if changes:
            raise ConfigError(f"{key}.knowledge: there is no [knowledge] table whose settings the variant could change")
        return None
    if not changes:
        return base.knowledge.options
    kind = base.knowledge.retriever.Options
    return options(base.config, {**base.config.knowledge, **changes}, kind, f"{key}.knowledge")
