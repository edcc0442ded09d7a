"""``[tool.cfgtool]`` settings from the nearest pyproject.toml above a cfg file.

Keys: ``select`` and ``ignore`` (lists of codes, code prefixes or rule names), ``target``
(alexeyab, hank-ai, opencv), ``strict`` (warnings fail the run) and the table
``[tool.cfgtool.per-file-ignores]`` (glob -> codes ignored in the files it matches, globs
relative to the file's folder; a glob without '/' also matches a file name anywhere).
Command-line options win over the file. ``--config FILE`` names the file instead: a
pyproject.toml, or any TOML file with these keys at the top (or under [tool.cfgtool]).
"""

from __future__ import annotations

import fnmatch
import functools
import sys
from dataclasses import dataclass
from pathlib import Path

KEYS = ("select", "ignore", "target", "strict", "per-file-ignores")


class ConfigError(Exception):
    """A pyproject.toml that cannot be read or whose [tool.cfgtool] table is wrong."""


@dataclass(frozen=True)
class Config:
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None
    target: str | None = None
    strict: bool | None = None
    source: Path | None = None  # the pyproject.toml these came from
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (glob, codes)

    def ignores_for(self, path: str | Path) -> tuple[str, ...]:
        """The per-file-ignores codes that apply to the cfg ``path``."""
        if not self.per_file_ignores:
            return ()
        path = Path(path).resolve()
        base = self.source.resolve().parent if self.source else Path.cwd()
        try:
            rel = path.relative_to(base).as_posix()
        except ValueError:
            rel = path.as_posix()
        out: list[str] = []
        for glob, codes in self.per_file_ignores:
            target = rel if "/" in glob else path.name
            if fnmatch.fnmatchcase(target, glob):
                out.extend(codes)
        return tuple(out)


def find_pyproject(start: str | Path) -> Path | None:
    """The nearest pyproject.toml in ``start``'s directory or above it."""
    here = Path(start).resolve()
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _codes(value, key: str, source: Path) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{source}: [tool.cfgtool] {key} must be a list of codes, e.g. {key} = [\"W3\", \"H401\"]")
    return tuple(v.strip() for v in value)


@functools.lru_cache(maxsize=64)
def read_config(pyproject: Path) -> Config:
    """The [tool.cfgtool] table of one pyproject.toml (an empty Config when there is none)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{pyproject}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject}: invalid TOML: {exc}") from None
    table = data.get("tool", {}).get("cfgtool")
    if table is None and pyproject.name != "pyproject.toml":  # --config cfgtool.toml: keys at the top
        table = {k: v for k, v in data.items() if k != "tool"}
    if table is None:
        return Config(source=pyproject)
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.cfgtool] must be a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ConfigError(f"{pyproject}: unknown [tool.cfgtool] key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    select = _codes(table["select"], "select", pyproject) if "select" in table else None
    ignore = _codes(table["ignore"], "ignore", pyproject) if "ignore" in table else None
    target = table.get("target")
    if target is not None:
        from .lint.targets import TARGETS

        if target not in TARGETS:
            raise ConfigError(f"{pyproject}: [tool.cfgtool] target = {target!r}; choose one of {', '.join(TARGETS)}")
    strict = table.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise ConfigError(f"{pyproject}: [tool.cfgtool] strict must be true or false")
    per_file = table.get("per-file-ignores", {})
    if not isinstance(per_file, dict):
        raise ConfigError(f"{pyproject}: [tool.cfgtool.per-file-ignores] must be a table of glob = [codes]")
    per_file_ignores = tuple((glob, _codes(codes, f"per-file-ignores.{glob!r}", pyproject))
                             for glob, codes in per_file.items())
    return Config(select, ignore, target, strict, pyproject, per_file_ignores)


def config_for(path: str | Path) -> Config:
    """The settings that apply to the cfg file (or directory) ``path``."""
    pyproject = find_pyproject(path)
    return read_config(pyproject) if pyproject is not None else Config()
