"""The README's "Install into an existing Django project" section, read as a vendor reads it.

The vendor test applies these blocks verbatim, so the README cannot drift from what works.
"""

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Install into an existing Django project"
FILE_BLOCK = re.compile(r"^# (?P<path>[\w/]+\.py) \((?P<mode>append|replace)\)$")
HEREDOC = re.compile(r"^(?P<command>.+?) <<'(?P<tag>\w+)'$")


@dataclass
class Command:
    argv: list[str]
    stdin: str | None = None


@dataclass
class InstallSection:
    files: list[tuple[str, str, str]] = field(default_factory=list)  # (path, mode, text)
    commands: list[Command] = field(default_factory=list)

    def command(self, *words):
        """The README command whose argv starts with ``words``."""
        for command in self.commands:
            if command.argv[: len(words)] == list(words):
                return command
        raise AssertionError(f"the README has no command starting with {' '.join(words)!r}")

    @property
    def pip_requirement(self):
        return self.command("pip", "install").argv[2]


def install_section(readme=ROOT / "README.md"):
    text = readme.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = InstallSection()
    for language, body in re.findall(r"```(\w+)\n(.*?)```", text[start:end], re.S):
        if language == "python":
            match = FILE_BLOCK.match(body.splitlines()[0])
            assert match, f"a python block of the install section names no file: {body[:60]!r}"
            section.files.append((match["path"], match["mode"], body))
        elif language == "sh":
            section.commands += _commands(body)
    return section


def _commands(body):
    lines = iter(body.splitlines())
    for line in lines:
        line = line.split("  #", 1)[0].strip()
        if not line:
            continue
        heredoc = HEREDOC.match(line)
        if heredoc:
            stdin = []
            for inner in lines:
                if inner == heredoc["tag"]:
                    break
                stdin.append(inner)
            yield Command(shlex.split(heredoc["command"]), "\n".join(stdin) + "\n")
        else:
            yield Command(shlex.split(line))
