"""`syncd setup` in a pseudo-terminal (pexpect), answered as a person would."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pexpect


class Guide:
    """The guide running in a pty; ``answer(question, text)`` waits for the question."""

    def __init__(self, *args: str, cwd: Path, timeout: float = 60) -> None:
        env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "250", "LINES": "60"}
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "syncd.cli", "setup", *args],
            cwd=str(cwd),
            env=env,
            encoding="utf-8",
            timeout=timeout,
            dimensions=(60, 250),
        )
        self.seen = ""

    def expect(self, pattern: str) -> str:
        """Wait for a regex; the text since the last wait (for asserts)."""
        try:
            self.child.expect(pattern)
        except (pexpect.TIMEOUT, pexpect.EOF) as err:
            raise AssertionError(
                f"waited for {pattern!r}; the guide said:\n{self.seen}{self.child.before}"
            ) from err
        said = f"{self.child.before}{self.child.after}"
        self.seen += said
        return said

    def answer(self, question: str, text: str) -> str:
        said = self.expect(question)
        self.child.sendline(text)
        return said

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        self.child.expect(pexpect.EOF, timeout=timeout)
        self.seen += self.child.before
        self.child.close()
        return int(self.child.exitstatus or 0), strip(self.seen)


def strip(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
