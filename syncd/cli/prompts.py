"""The questions of `syncd setup`: each one answered by its flag, or asked on the terminal (rich
prompts) and asked again after every bad answer with the reason; without a terminal a bad or
missing answer stops with a message naming the flag (exit 2)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape
from rich.prompt import Confirm, Prompt


class UsageStop(Exception):
    """Non-interactive: a bad or missing answer; the message names the flag (exit 2)."""


class Asker:
    """One question at a time: the flag's value if given and good; else (on a terminal) the
    question, asked again after every bad answer with the reason; else exit 2 naming the flag."""

    def __init__(self, args: argparse.Namespace, interactive: bool, console: Console) -> None:
        self.args = args
        self.interactive = interactive
        self.console = console

    def flag_value(self, flag: str) -> Any:
        return getattr(self.args, flag.lstrip("-").replace("-", "_"), None)

    def given(self, *flags: str) -> bool:
        return any(self.flag_value(f) not in (None, False) for f in flags)

    def fail(self, message: str) -> NoReturn:
        raise UsageStop(message)

    def say_error(self, message: str) -> None:
        self.console.print(f"[bold red]✗[/] {escape(message)}")

    def ask(
        self,
        flag: str,
        question: str,
        *,
        default: str | None = None,
        check: Callable[[str], str | None] | None = None,
        secret: bool = False,
        optional: bool = False,
        retry: bool = False,
    ) -> str:
        """An answer that passes ``check`` (None: good; else why not). ``secret``: the flag
        names a file holding it; the prompt does not echo. ``retry``: asked again after a failed
        test, so the flag's value (already tried) is not taken again."""
        value = None if retry else self.flag_value(flag)
        if value is not None and secret:
            try:
                value = Path(value).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as err:
                reason = getattr(err, "strerror", None) or err
                problem = f"{flag} {value}: cannot read the file: {reason}"
                if not self.interactive:
                    self.fail(problem)
                self.say_error(problem)
                value = None
        if value is not None:
            why = check(value) if check else None
            if why is None:
                return str(value)
            if not self.interactive:
                self.fail(f"{flag}: {why}")
            self.say_error(why)
        elif not self.interactive:
            if default is not None or optional:
                return default or ""
            self.fail(f"{flag} is needed ({question})")
        while True:
            answer = Prompt.ask(
                escape(question),
                console=self.console,
                password=secret,
                default=default if default is not None else ("" if optional else ...),
                show_default=not secret,
            )
            answer = str(answer).strip()
            if not answer and optional:
                return ""
            if not answer:
                self.say_error("an answer is needed")
                continue
            why = check(answer) if check else None
            if why is None:
                return answer
            self.say_error(why)

    def confirm(self, question: str, default: bool = True) -> bool:
        if not self.interactive:
            return default
        return bool(Confirm.ask(escape(question), console=self.console, default=default))
