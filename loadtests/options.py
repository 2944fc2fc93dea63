"""One declaration per load-test option, and everything generated from it.

The table is the body of :class:`loadtests.settings.LoadSettings`, in the order ``aibackend
loadtest --help`` shows the options. One entry, e.g. ::

    prompt_tokens: int = option(default=32, group=WORKLOAD, at_least=1,
                                help="synthetic prompt length in words", llm_help="synthetic prompt length (words)")

produces, with no other line anywhere:

(a) the ``aibackend loadtest`` flag ``--prompt-tokens PROMPT_TOKENS`` (int, default 32) in the
    "workload" group, and its usage check "--prompt-tokens must be at least 1, got 0"
    (:func:`add_cli_arguments`, :func:`cli_problem`);
(b) its Locust twin ``--llm-prompt-tokens`` (:func:`add_locust_arguments`);
(c) the field ``LoadSettings.prompt_tokens: int = 32``, read from Locust's parsed options
    (:func:`from_locust`) and from the ``aibackend loadtest`` flags (:func:`from_cli`);
(d) ``--llm-prompt-tokens 32`` on the Locust command line of every ``aibackend loadtest`` run
    (:func:`locust_argv`; :func:`from_locust` reads it back into equal settings).

``where`` says which sides have it: :attr:`Where.BOTH` (the default); :attr:`Where.LOCUST`, a
``--llm-*`` option and a field with no ``aibackend`` flag (``--llm-progress``); or
:attr:`Where.AIBACKEND`, declared ``name: ClassVar[Option] = cli_option(...)`` because it is no
setting of the Locust run (``--users``, ``--workers``, the campaigns). Values cross to Locust as
text: ``true``/``false`` for booleans, ``%g`` for floats, and ``format`` for an option that has a
``parse`` (``--slo``: each side parses its text once; the dict travels as ``ttft=500,tpot=50``).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, dataclass_transform

__all__ = [
    "Option",
    "Where",
    "add_cli_arguments",
    "add_locust_arguments",
    "cli_option",
    "cli_problem",
    "from_cli",
    "from_locust",
    "locust_argv",
    "option",
    "option_table",
    "table",
]

T = TypeVar("T")

LOCUST_GROUP = "LLM load test (ai-backend-unified)"
TRUE_WORDS = ("1", "true", "yes", "on")  # what a Locust boolean option (or its env var / config file) may say
_KEY = "loadtests.option"
_SAME: Any = object()  # no cli_default: the aibackend flag defaults to ``default``


class Where(enum.Flag):
    AIBACKEND = enum.auto()  # a flag of `aibackend loadtest`
    LOCUST = enum.auto()  # a --llm-* option of the locustfile, and a LoadSettings field
    BOTH = AIBACKEND | LOCUST


@dataclass(frozen=True)
class Option:
    """One option; ``name`` (the field, ``--NAME``, ``--llm-NAME``) is where it is declared."""

    help: str
    group: str  # aibackend's argument group; Locust lists every --llm-* option in one group
    where: Where = Where.BOTH
    default: Any = None  # the setting when the option is not given
    type: Callable[[str], Any] = str  # how a flag's text becomes the value (bool: a switch)
    cli_default: Any = _SAME  # aibackend's default when it differs (None: "not given, the campaign decides")
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    llm_help: str | None = None  # Locust's help when it differs
    parse: Callable[[str], Any] | None = None  # text -> value on both sides; a ValueError is bad usage
    format: Callable[[Any], str] | None = None  # value -> text, the inverse of parse
    at_least: int | None = None  # aibackend: a smaller value is bad usage
    positive: bool = False  # aibackend: a value <= 0 is bad usage
    nargs: str | None = None
    fallback: str | None = None  # Locust's own option read when --llm-NAME is not given or 0 (run_time: -t)
    flag: str | None = None  # aibackend's flag when it is not --NAME
    name: str = ""

    @property
    def cli_flag(self) -> str:
        return "--" + (self.flag or self.name.replace("_", "-"))

    @property
    def cli_dest(self) -> str:
        return self.cli_flag[2:].replace("-", "_")

    @property
    def llm_flag(self) -> str:
        return "--llm-" + self.name.replace("_", "-")

    @property
    def llm_dest(self) -> str:
        return "llm_" + self.name

    def to_text(self, value: Any) -> str:
        """The value as a command line carries it ("" for none)."""
        if value is None:
            return ""
        if self.format is not None:
            return self.format(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)

    def from_text(self, text: Any) -> Any:
        if self.parse is not None:
            return self.parse(str(text))
        if self.type is bool:
            return str(text).lower() in TRUE_WORDS
        return self.type(text)

    def cli_arguments(self) -> dict[str, Any]:
        default = self.default if self.cli_default is _SAME else self.cli_default
        if self.type is bool:
            action = argparse.BooleanOptionalAction if default else "store_true"
            return {"action": action, "default": default, "help": self.help or None}
        kwargs = self._shown(self.help)
        if self.parse is not None:
            kwargs["default"] = self.to_text(default) or None  # the flag is text; from_cli parses it
        else:
            kwargs["default"] = default
            if self.type is not str:
                kwargs["type"] = self.type
        if self.nargs is not None:
            kwargs["nargs"] = self.nargs
        return kwargs

    def locust_arguments(self) -> dict[str, Any]:
        help_text = self.llm_help or self.help
        if self.type is bool:
            return {"default": self.to_text(self.default), "choices": ["true", "false"], "help": help_text or None}
        kwargs = self._shown(help_text)
        # Numbers are typed; anything else stays text ("" = not given), as Locust passes it on to workers.
        if self.type in (int, float) and self.parse is None:
            kwargs.update(type=self.type, default=self.default)
        else:
            kwargs["default"] = self.to_text(self.default)
        return kwargs

    def _shown(self, help_text: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"help": help_text or None}
        if self.choices is not None:
            kwargs["choices"] = list(self.choices)
        if self.metavar is not None:
            kwargs["metavar"] = self.metavar
        return kwargs


def option(
    *,
    default: T,
    group: str,
    help: str = "",
    where: Where = Where.BOTH,
    type: Callable[[str], Any] | None = None,
    cli_default: Any = _SAME,
    choices: tuple[str, ...] | None = None,
    metavar: str | None = None,
    llm_help: str | None = None,
    parse: Callable[[str], T] | None = None,
    format: Callable[[T], str] | None = None,
    at_least: int | None = None,
    positive: bool = False,
    fallback: str | None = None,
    nargs: str | None = None,
) -> T:
    """A field of an :func:`option_table` class that is an option: Locust's, and aibackend's too
    unless ``where=Where.LOCUST``. ``type`` defaults to the type of ``default`` (str for None)."""
    if Where.LOCUST not in where:
        raise ValueError("an aibackend-only flag is a ClassVar declared with cli_option()")
    if type is None:
        type = default.__class__ if isinstance(default, bool | int | float) else str
    declared = Option(help=help, group=group, where=where, default=default, type=type, cli_default=cli_default,
                      choices=choices, metavar=metavar, llm_help=llm_help, parse=parse, format=format,
                      at_least=at_least, positive=positive, fallback=fallback, nargs=nargs)
    metadata = {_KEY: declared}
    if getattr(default, "__hash__", None) is None:  # a dict or a list: a fresh copy for each instance
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def cli_option(
    *,
    help: str,
    group: str,
    default: Any = None,
    type: Callable[[str], Any] = str,
    choices: tuple[str, ...] | None = None,
    metavar: str | None = None,
    nargs: str | None = None,
    at_least: int | None = None,
    positive: bool = False,
    flag: str | None = None,
) -> Option:
    """A flag of ``aibackend loadtest`` only, no setting of the Locust run: declare it as a ``ClassVar``."""
    return Option(help=help, group=group, where=Where.AIBACKEND, default=default, type=type, choices=choices,
                  metavar=metavar, nargs=nargs, at_least=at_least, positive=positive, flag=flag)


@dataclass_transform(frozen_default=True, field_specifiers=(option,))
def option_table(cls: type[T]) -> type[T]:
    """A frozen dataclass whose fields (and ``ClassVar[Option]`` entries) are declared options."""
    return dataclasses.dataclass(frozen=True)(cls)


def table(cls: type[Any]) -> tuple[Option, ...]:
    """The options an :func:`option_table` class declares, in declaration order, each named."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    found: list[Option] = []
    for name in cls.__dict__.get("__annotations__", {}):  # noqa: RUF063 - this class's own, in order
        declared = fields[name].metadata.get(_KEY) if name in fields else cls.__dict__.get(name)
        if isinstance(declared, Option):
            if (name in fields) != (Where.LOCUST in declared.where):
                raise TypeError(f"{cls.__name__}.{name}: a Locust option is a field, an aibackend-only one a ClassVar")
            found.append(dataclasses.replace(declared, name=name))
    for flags in ([o.cli_flag for o in found if Where.AIBACKEND in o.where],
                  [o.llm_flag for o in found if Where.LOCUST in o.where]):
        if len(set(flags)) != len(flags):
            raise TypeError(f"{cls.__name__}: a flag is declared twice in {flags}")
    return tuple(found)


def add_cli_arguments(parser: argparse.ArgumentParser, options: tuple[Option, ...]) -> None:
    """(a) The ``aibackend loadtest`` flags, in their groups."""
    groups: dict[str, Any] = {}
    for o in options:
        if Where.AIBACKEND in o.where:
            if o.group not in groups:
                groups[o.group] = parser.add_argument_group(o.group)
            groups[o.group].add_argument(o.cli_flag, **o.cli_arguments())


def add_locust_arguments(parser: Any, options: tuple[Option, ...]) -> None:
    """(b) The ``--llm-*`` options, on Locust's parser."""
    group = parser.add_argument_group(LOCUST_GROUP)
    for o in options:
        if Where.LOCUST in o.where:
            group.add_argument(o.llm_flag, **o.locust_arguments())


def cli_problem(args: argparse.Namespace, options: tuple[Option, ...]) -> str | None:
    """(a) The first ``aibackend loadtest`` number outside its declared range, as a usage message."""
    for o in options:
        value = getattr(args, o.cli_dest, None) if Where.AIBACKEND in o.where else None
        if value is None:
            continue
        if o.at_least is not None and value < o.at_least:
            return f"{o.cli_flag} must be at least {o.at_least}, got {value}"
        if o.positive and value <= 0:
            return f"{o.cli_flag} must be greater than 0, got {value:g}"
    return None


def from_cli(args: argparse.Namespace, options: tuple[Option, ...]) -> dict[str, Any]:
    """(c) Field values from the ``aibackend loadtest`` flags that have a Locust twin (a flag not
    given keeps the field's default); ValueError for a text its ``parse`` rejects."""
    values: dict[str, Any] = {}
    for o in options:
        if o.where == Where.BOTH:
            value = getattr(args, o.cli_dest, None)
            if isinstance(value, list):  # nargs: the words as one text, as the --llm-* twin takes them
                value = " ".join(value)
            if value is not None:
                values[o.name] = o.parse(value) if o.parse is not None else value
    return values


def from_locust(parsed: Any, options: tuple[Option, ...]) -> dict[str, Any]:
    """(c) Field values from Locust's parsed options; one not given (None or "") keeps its default."""
    values: dict[str, Any] = {}
    for o in options:
        if Where.LOCUST not in o.where:
            continue
        text = getattr(parsed, o.llm_dest, None)
        if o.fallback is not None and not text:
            text = getattr(parsed, o.fallback, None)
        if text is not None and text != "":
            values[o.name] = o.from_text(text)
    return values


def locust_argv(settings: Any, options: tuple[Option, ...]) -> list[str]:
    """(d) ``--llm-NAME TEXT`` for each Locust option of ``settings``; a value with no text (None,
    empty) stays out, which gives the same default."""
    argv: list[str] = []
    for o in options:
        if Where.LOCUST in o.where:
            text = o.to_text(getattr(settings, o.name))
            if text:
                argv += [o.llm_flag, text]
    return argv
