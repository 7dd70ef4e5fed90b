"""A function's folder: its ``turnout.toml``, and the files ``turnout init`` writes."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from turnout.cli.client import CliError
from turnout.cli.pack import IGNORE_FILE, PROJECT_FILE
from turnout.domain.config import DEFAULT_MEMORY, DEFAULT_TIMEOUT

DEFAULT_HANDLER = "app.handler"
FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
KEYS = ("name", "handler", "description", "timeout", "memory", "idempotent", "environment", "requires")

# file written by `init` -> template in turnout/scaffold
TEMPLATES = {
    PROJECT_FILE: "turnout.toml.tmpl",
    "app.py": "app.py.tmpl",
    "events/example.json": "example.json.tmpl",
    IGNORE_FILE: "turnoutignore.tmpl",
}


@dataclass(frozen=True)
class Project:
    """What ``turnout.toml`` declares. Omitted fields take their defaults, so a deploy is declarative:
    removing a line from the file resets that setting on the next deploy."""

    name: str | None = None
    handler: str = DEFAULT_HANDLER
    description: str = ""
    timeout: int = DEFAULT_TIMEOUT
    memory: int = DEFAULT_MEMORY
    idempotent: bool = False
    environment: dict[str, str] = field(default_factory=dict)
    # [requires]: shared resources the code works with, name -> PEP 440 range (checked by the server)
    requires: dict[str, str] = field(default_factory=dict)

    def config(self) -> dict[str, Any]:
        """The draft configuration, as ``PUT /v1/functions/{name}`` takes it."""
        return {
            "handler": self.handler,
            "description": self.description,
            "timeout": self.timeout,
            "memory": self.memory,
            "idempotent": self.idempotent,
            "environment": dict(self.environment),
            "requires": dict(self.requires),
        }


def load_project(folder: Path) -> Project:
    """Read ``folder/turnout.toml``; a folder without one gets the defaults."""
    path = folder / PROJECT_FILE
    if not path.is_file():
        return Project()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CliError("InvalidConfig", f"{path} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise CliError(
            "InvalidConfig", f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}"
        )
    return Project(
        name=_typed(path, data, "name", str, None),
        handler=_typed(path, data, "handler", str, DEFAULT_HANDLER),
        description=_typed(path, data, "description", str, ""),
        timeout=_typed(path, data, "timeout", int, DEFAULT_TIMEOUT),
        memory=_typed(path, data, "memory", int, DEFAULT_MEMORY),
        idempotent=_flag(path, data, "idempotent"),
        environment=_environment(path, data.get("environment", {})),
        requires=_requires(path, data.get("requires", {})),
    )


def _flag(path: Path, data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise CliError("InvalidConfig", f"{path}: {key} must be true or false, got {value!r}")
    return value


def _typed(path: Path, data: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = data.get(key, default)
    if value is not default and (not isinstance(value, kind) or isinstance(value, bool)):
        raise CliError("InvalidConfig", f"{path}: {key} must be {kind.__name__}, got {value!r}")
    return value


def _environment(path: Path, table: Any) -> dict[str, str]:
    if not isinstance(table, dict):
        raise CliError("InvalidConfig", f'{path}: [environment] must be a table of NAME = "value"')
    environment: dict[str, str] = {}
    for key, value in table.items():
        if isinstance(value, bool):
            environment[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            environment[key] = str(value)
        else:
            raise CliError("InvalidConfig", f"{path}: environment variable {key} must be text, got {value!r}")
    return environment


def _requires(path: Path, table: Any) -> dict[str, str]:
    if not isinstance(table, dict):
        raise CliError("InvalidConfig", f'{path}: [requires] must be a table of resource = ">=6,<8"')
    for key, value in table.items():
        if not isinstance(value, str):
            raise CliError(
                "InvalidConfig", f'{path}: requires {key} must be a PEP 440 range in quotes, e.g. ">=6,<8"'
            )
    return dict(table)


def check_name(name: str) -> str:
    if not FUNCTION_NAME.fullmatch(name):
        raise CliError("InvalidName", f"invalid function name {name!r}: use 1-64 letters, digits, '-' or '_'")
    return name


def scaffold_files(name: str) -> dict[str, str]:
    """The files of a new function folder (path relative to the folder -> text)."""
    templates = resources.files("turnout").joinpath("scaffold")
    return {
        path: templates.joinpath(template).read_text(encoding="utf-8").replace("{{name}}", check_name(name))
        for path, template in TEMPLATES.items()
    }


def init_project(folder: Path, name: str) -> list[Path]:
    """Write a new function folder; refuses (writing nothing) if any of its files exists."""
    files = {folder / path: text for path, text in scaffold_files(name).items()}
    existing = [str(p) for p in files if p.exists()]
    if existing:
        raise CliError("AlreadyExists", f"refusing to overwrite {', '.join(existing)}")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)
