"""Resolve the routing rules into model groups: what LiteLLM can actually route on.

Precedence for a requested name (the reference config's comment):
``exact_matches`` > ``capabilities`` > ``patterns`` > a provider's own model name >
``routing_rules.default_provider`` (a ``*`` catch-all). Regex patterns cannot be routed by
LiteLLM, so they are resolved here against the names the registry knows.

This module also produces the layer-3 (consistency) diagnostics that fall out of resolving:
unknown references, disabled targets, fallback cycles (linear time) and the like.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from generator.diagnostics import Diagnostic
from generator.load import Sources, suggest
from generator.models import ProviderBase
from generator.providers import REGISTRY
from generator.yamlsource import KeyPath, format_path

__all__ = ["Deployment", "Group", "PatternResolution", "RouteTable", "find_cycles", "resolve_routes"]

GroupKind = Literal["model", "pattern", "alias", "capability"]


@dataclass(frozen=True)
class Deployment:
    provider: str
    backend_model: str
    order: int | None = None


@dataclass
class Group:
    name: str
    kind: GroupKind
    deployments: list[Deployment]
    rpm: int | None = None
    tpm: int | None = None


@dataclass(frozen=True)
class PatternResolution:
    pattern: str
    provider: str
    names: tuple[str, ...]


@dataclass
class RouteTable:
    groups: dict[str, Group] = field(default_factory=dict)
    catch_all: str | None = None  # provider receiving any unmatched name
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    default_fallbacks: list[str] = field(default_factory=list)
    patterns: list[PatternResolution] = field(default_factory=list)

    @property
    def max_fallbacks(self) -> int:
        lengths = [len(chain) for chain in self.fallbacks.values()] + [len(self.default_fallbacks)]
        return max(lengths)


class _Resolver:
    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self.providers = sources.providers.providers
        self.mappings = sources.mappings
        self.diagnostics: list[Diagnostic] = []
        self.table = RouteTable()
        # names that exist only behind disabled/template providers (or aliases onto them)
        self.unavailable: dict[str, str] = {}
        # provider -> {model name: index in its list}: membership tests stay O(1) at 16k models
        self.served: dict[str, dict[str, int]] = {
            name: {m.name: i for i, m in reversed(list(enumerate(p.models)))} for name, p in self.providers.items()
        }

    # -- diagnostics ------------------------------------------------------------------------------
    def report(
        self,
        code: str,
        message: str,
        role: str,
        path: KeyPath,
        hint: str | None = None,
        severity: Literal["error", "warning", "info"] = "error",
    ) -> None:
        self.diagnostics.append(
            Diagnostic(
                code=code,
                message=message,
                file=self.sources.files[role],
                path=format_path(path),
                line=self.sources.line(role, path),
                hint=hint,
                severity=severity,
            )
        )

    def active(self) -> dict[str, ProviderBase]:
        return {name: p for name, p in self.providers.items() if p.is_active}

    # -- groups -------------------------------------------------------------------------------------
    def model_groups(self) -> None:
        served_by: dict[str, list[str]] = {}
        for provider_name, provider in self.providers.items():
            for model in provider.models:
                if provider.is_active:
                    owners = served_by.setdefault(model.name, [])
                    if provider_name not in owners:  # a duplicate entry is reported by layer 3
                        owners.append(provider_name)
                else:
                    self.unavailable.setdefault(model.name, f"{provider.status} provider `{provider_name}`")
        for name, owners in served_by.items():
            self.unavailable.pop(name, None)
            self.table.groups[name] = Group(name, "model", [Deployment(owner, name) for owner in owners])
            if len(owners) > 1:
                first = owners[0]
                index = self.served[first][name]
                self.report(
                    "ambiguous-model",
                    f"model `{name}` is served by several active providers ({', '.join(owners)}); "
                    "requests for it are load-balanced across them",
                    "providers",
                    ("providers", first, "models", index),
                    hint=f"to pin it to one, add an exact_matches alias or a pattern naming the provider (e.g. provider: {first})",
                    severity="warning",
                )

    def pattern_groups(self) -> None:
        registry_names = sorted({m.name for p in self.providers.values() for m in p.models})
        for index, rule in enumerate(self.mappings.patterns):
            where: KeyPath = ("patterns", index)
            try:
                regex = re.compile(rule.pattern)
            except re.error as exc:
                self.report(
                    "invalid-regex",
                    f"pattern {rule.pattern!r} is not a valid regular expression: {exc}",
                    "mappings",
                    (*where, "pattern"),
                    hint="patterns are Python regexes, e.g. '^Qwen/.*'; escape literal dots and brackets",
                )
                continue
            target = self.providers.get(rule.provider)
            # A member of an exclusive group is off whenever another member is on (one GPU, one
            # engine): a rule naming it waits for `aibackend switch`, it is not a mistake.
            switched_off = target is not None and not target.is_active and target.exclusive_group is not None
            if not self._provider_ok(rule.provider, "mappings", (*where, "provider"), allow_inactive=switched_off):
                continue
            provider = self.providers[rule.provider]
            if switched_off:
                self.report(
                    "pattern-inactive-provider",
                    f"pattern {rule.pattern!r} routes to `{rule.provider}`, which is {provider.status} "
                    f"(exclusive group `{provider.exclusive_group}`); it is left out of the gateway",
                    "mappings",
                    (*where, "provider"),
                    hint=f"`aibackend switch {rule.provider}` makes it the active member of its group",
                    severity="warning",
                )
                continue
            names = tuple(n for n in registry_names if regex.search(n))
            self.table.patterns.append(PatternResolution(rule.pattern, rule.provider, names))
            if not names:
                self.report(
                    "pattern-matches-nothing",
                    f"pattern {rule.pattern!r} matches no model name in providers.yaml",
                    "mappings",
                    (*where, "pattern"),
                    hint="LiteLLM cannot route on regexes: patterns are resolved against the registry's model names when generating",
                    severity="warning",
                )
                continue
            for name in names:
                existing = self.table.groups.get(name)
                if existing is not None and existing.kind == "pattern":
                    continue  # an earlier pattern already claimed it
                if name not in self.served[rule.provider] and not REGISTRY[provider.type].serves_any_model:
                    self.report(
                        "pattern-target-missing",
                        f"pattern {rule.pattern!r} routes `{name}` to `{rule.provider}`, which does not list it",
                        "mappings",
                        (*where, "provider"),
                        hint=f"add `{name}` to providers.{rule.provider}.models or narrow the pattern",
                        severity="warning",
                    )
                if not provider.is_active:
                    continue
                self.unavailable.pop(name, None)
                self.table.groups[name] = Group(name, "pattern", [Deployment(rule.provider, name)])

    def alias_groups(self) -> None:
        for alias, match in self.mappings.exact_matches.items():
            where: KeyPath = ("exact_matches", alias)
            if not self._provider_ok(match.provider, "mappings", (*where, "provider"), allow_inactive=True):
                continue
            provider = self.providers[match.provider]
            if match.backend_model not in self.served[match.provider]:
                served = provider.model_names()
                close = suggest(match.backend_model, served)
                self.report(
                    "unknown-backend-model",
                    f"backend_model `{match.backend_model}` is not served by provider `{match.provider}`",
                    "mappings",
                    (*where, "backend_model"),
                    hint=(f"did you mean `{close}`? " if close else "")
                    + f"`{match.provider}` serves: {', '.join(served)}",
                )
                continue
            if not provider.is_active:
                self.unavailable[alias] = f"{provider.status} provider `{match.provider}`"
                self.table.groups.pop(alias, None)
                self.report(
                    "alias-inactive-provider",
                    f"alias `{alias}` points at {provider.status} provider `{match.provider}`; it is left out of the gateway",
                    "mappings",
                    (*where, "provider"),
                    hint=f"set providers.{match.provider}.status: active, or point the alias at an active provider",
                    severity="warning",
                )
                continue
            shadowed = self.table.groups.get(alias)
            if shadowed is not None and shadowed.kind in ("model", "pattern"):
                owners = ", ".join(d.provider for d in shadowed.deployments)
                if [d.provider for d in shadowed.deployments] != [match.provider] or alias != match.backend_model:
                    self.report(
                        "alias-shadows-model",
                        f"alias `{alias}` shadows the model of the same name served by {owners}",
                        "mappings",
                        where,
                        hint="exact_matches take precedence; rename the alias if both should be reachable",
                        severity="warning",
                    )
            self.table.groups[alias] = Group(alias, "alias", [Deployment(match.provider, match.backend_model)])

    def capability_groups(self) -> None:
        for cap_name, capability in self.mappings.capabilities.items():
            where: KeyPath = ("capabilities", cap_name)
            if cap_name in self.mappings.exact_matches:
                self.report(
                    "alias-capability-clash",
                    f"`{cap_name}` is both an exact_matches alias and a capability",
                    "mappings",
                    where,
                    hint="a requested name must mean one thing: rename the capability or the alias",
                )
                continue
            deployments: list[Deployment] = []
            available: list[str] = []
            seen: set[str] = set()
            for index, model in enumerate(capability.preferred_models):
                at: KeyPath = (*where, "preferred_models", index)
                if model in seen:
                    self.report(
                        "duplicate-preferred-model",
                        f"`{model}` is listed twice in preferred_models",
                        "mappings",
                        at,
                        hint="remove the second occurrence",
                    )
                    continue
                seen.add(model)
                if model == cap_name:
                    self.report(
                        "capability-self-reference",
                        f"capability `{cap_name}` lists itself as a preferred model",
                        "mappings",
                        at,
                        hint="list model names or aliases, not the capability",
                    )
                    continue
                group = self.table.groups.get(model)
                if group is None or group.kind == "capability":
                    if self._unavailable(model, "mappings", at, context=f"capability `{cap_name}`"):
                        continue
                    self._unknown_name(model, "mappings", at, "preferred model")
                    continue
                available.append(model)
                for deployment in group.deployments:
                    order = len(available) if capability.routing_strategy == "fallback" else None
                    deployments.append(Deployment(deployment.provider, deployment.backend_model, order))
            if not available:
                if not any(d.severity == "error" and d.path.startswith(format_path(where)) for d in self.diagnostics):
                    self.report(
                        "capability-unavailable",
                        f"capability `{cap_name}` has no available preferred model",
                        "mappings",
                        (*where, "preferred_models"),
                        hint="activate one of its providers or list an available model",
                    )
                continue
            shadowed = self.table.groups.get(cap_name)
            if shadowed is not None:
                self.report(
                    "capability-shadows-model",
                    f"capability `{cap_name}` shadows the model of the same name",
                    "mappings",
                    where,
                    hint="capabilities take precedence over model names; rename one of them",
                    severity="warning",
                )
            self.table.groups[cap_name] = Group(cap_name, "capability", deployments)
            # No `fallbacks` entry for a fallback capability: LiteLLM (1.106) fails over by `order`
            # inside the group itself; an extra entry would try the same backends twice.

    def default_route(self) -> None:
        default = self.mappings.routing_rules.default_provider
        if default is None:
            return
        if self._provider_ok(default, "mappings", ("routing_rules", "default_provider")):
            self.table.catch_all = default

    # -- fallbacks ----------------------------------------------------------------------------------
    def fallback_chains(self) -> None:
        chains: dict[str, list[str]] = {}
        chain_index: dict[tuple[str, int], int] = {}  # (source, edge position) -> index in the file
        for source, chain in self.mappings.fallback_chains.items():
            where: KeyPath = ("fallback_chains", source)
            if source not in self.table.groups:
                if not self._unavailable(source, "mappings", where, context="fallback chain"):
                    self._unknown_name(source, "mappings", where, "fallback source")
                continue
            seen: set[str] = set()
            targets: list[str] = []
            for index, target in enumerate(chain.chain):
                at: KeyPath = (*where, "chain", index)
                if target == source:
                    self.report(
                        "fallback-self-reference",
                        f"`{source}` falls back to itself",
                        "mappings",
                        at,
                        hint=f"remove `{target}` from its own chain",
                    )
                    continue
                if target in seen:
                    self.report(
                        "fallback-duplicate",
                        f"`{target}` appears twice in the fallback chain of `{source}`",
                        "mappings",
                        at,
                        hint="each model is tried once; remove the second occurrence",
                    )
                    continue
                seen.add(target)
                chain_index[(source, len(chains.setdefault(source, [])))] = index
                chains[source].append(target)
                if target not in self.table.groups:
                    if not self._unavailable(target, "mappings", at, context=f"the fallback chain of `{source}`"):
                        self._unknown_name(target, "mappings", at, "fallback target")
                    continue
                targets.append(target)
            if targets:
                self.table.fallbacks[source] = targets
        for cycle, (source, edge) in find_cycles(chains):
            path_text = " -> ".join(cycle)
            self.report(
                "fallback-cycle",
                f"fallback cycle {path_text}",
                "mappings",
                ("fallback_chains", source, "chain", chain_index[(source, edge)]),
                hint=f"remove {source}'s fallback to {cycle[-1]}",
            )
        default_chain: list[str] = []
        for index, target in enumerate(self.mappings.routing_rules.default_fallback_chain):
            at = ("routing_rules", "default_fallback_chain", index)
            if target in default_chain:
                self.report("fallback-duplicate", f"`{target}` appears twice in default_fallback_chain", "mappings", at,
                            hint="remove the second occurrence")
                continue
            if target not in self.table.groups:
                if not self._unavailable(target, "mappings", at, context="default_fallback_chain"):
                    self._unknown_name(target, "mappings", at, "fallback target")
                continue
            default_chain.append(target)
        self.table.default_fallbacks = default_chain

    # -- limits -----------------------------------------------------------------------------------------
    def rate_limits(self) -> None:
        for name, limit in self.mappings.rate_limits.items():
            where: KeyPath = ("rate_limits", name)
            bad = False
            for key in ("rpm", "tpm"):
                value = getattr(limit, key)
                if value is not None and value <= 0:
                    bad = True
                    self.report(
                        "non-positive-limit",
                        f"{key} must be a positive integer, got {value}",
                        "mappings",
                        (*where, key),
                        hint=f"remove {key} to leave it unlimited",
                    )
            if bad:
                continue
            group = self.table.groups.get(name)
            if group is None:
                if not self._unavailable(name, "mappings", where, context="rate_limits"):
                    self._unknown_name(name, "mappings", where, "rate-limited model")
                continue
            group.rpm, group.tpm = limit.rpm, limit.tpm

    # -- helpers ------------------------------------------------------------------------------------------
    def _provider_ok(self, name: str, role: str, path: KeyPath, *, allow_inactive: bool = False) -> bool:
        provider = self.providers.get(name)
        if provider is None:
            close = suggest(name, self.providers)
            self.report(
                "unknown-provider",
                f"unknown provider `{name}`",
                role,
                path,
                hint=(f"did you mean `{close}`? " if close else "") + f"providers: {', '.join(self.providers)}",
            )
            return False
        if not provider.is_active and not allow_inactive:
            self.report(
                "inactive-provider",
                f"provider `{name}` is {provider.status}",
                role,
                path,
                hint=f"set providers.{name}.status: active, or name an active provider",
            )
            return False
        return True

    def _unavailable(self, name: str, role: str, path: KeyPath, *, context: str) -> bool:
        reason = self.unavailable.get(name)
        if reason is None:
            return False
        self.report(
            "fallback-to-inactive" if "fallback" in context else "inactive-model",
            f"`{name}` is served only by a {reason}; it is left out of {context}",
            role,
            path,
            hint="activate that provider or remove the name here",
            severity="warning",
        )
        return True

    def _unknown_name(self, name: str, role: str, path: KeyPath, what: str) -> None:
        close = suggest(name, self.table.groups)
        self.report(
            "unknown-model",
            f"{what} `{name}` is not a model, alias or capability",
            role,
            path,
            hint=f"did you mean `{close}`?" if close else "check the spelling against providers.yaml and exact_matches",
        )

    def run(self) -> RouteTable:
        self.model_groups()
        self.pattern_groups()
        self.alias_groups()
        self.capability_groups()
        self.default_route()
        self.fallback_chains()
        self.rate_limits()
        return self.table


def find_cycles(graph: dict[str, list[str]]) -> list[tuple[list[str], tuple[str, int]]]:
    """Every back edge of an iterative DFS, as (cycle path, (source, chain index)).

    Linear in nodes + edges: each node is entered once, each edge looked at once (the seed's
    check enumerated every path, exponential on a lattice of fallbacks).
    """
    white, grey, black = 0, 1, 2
    colour: dict[str, int] = {}
    cycles: list[tuple[list[str], tuple[str, int]]] = []
    for root in graph:
        if colour.get(root, white) != white:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        on_path: list[str] = [root]
        position: dict[str, int] = {root: 0}
        colour[root] = grey
        while stack:
            node, edge = stack[-1]
            targets = graph.get(node, [])
            if edge >= len(targets):
                stack.pop()
                on_path.pop()
                position.pop(node, None)
                colour[node] = black
                continue
            stack[-1] = (node, edge + 1)
            target = targets[edge]
            state = colour.get(target, white)
            if state == grey:
                cycles.append(([*on_path[position[target] :], target], (node, edge)))
            elif state == white:
                colour[target] = grey
                position[target] = len(on_path)
                on_path.append(target)
                stack.append((target, 0))
    return cycles


def resolve_routes(sources: Sources) -> tuple[RouteTable, list[Diagnostic]]:
    resolver = _Resolver(sources)
    table = resolver.run()
    return table, resolver.diagnostics
