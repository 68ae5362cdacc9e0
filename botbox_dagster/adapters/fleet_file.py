"""Reading fleet files: YAML in, a validated :class:`Fleet` out, or every error at once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from botbox_dagster.domain.errors import ConfigError, ConfigErrors
from botbox_dagster.domain.fleet import Fleet, parse_fleet
from botbox_dagster.settings import load_settings

MAX_FILE_BYTES = 5 * 1024 * 1024


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, turning every failure into a ConfigError naming the file."""
    name = path.name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ConfigErrors([ConfigError(name, f"cannot be read: {exc.strerror}")]) from exc
    if size > MAX_FILE_BYTES:
        raise ConfigErrors([ConfigError(name, f"is {size} bytes, more than {MAX_FILE_BYTES}")])
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigErrors([ConfigError(name, f"is not valid YAML: {exc}")]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigErrors([ConfigError(name, "is not UTF-8 text")]) from exc


def load_fleet_file(path: Path | str) -> Fleet:
    """Read and validate a fleet file.

    In ``replay_dir``, ``${BOTBOX_HOME}`` names the state folder and a relative path resolves
    against the fleet file's folder.
    """
    path = Path(path)
    doc = read_yaml(path)
    home = str(load_settings().home)
    if isinstance(doc, dict) and isinstance(doc.get("exchanges"), dict):
        for body in doc["exchanges"].values():
            if isinstance(body, dict) and isinstance(body.get("replay_dir"), str):
                text = (
                    body["replay_dir"].replace("${BOTBOX_HOME}", home).replace("$BOTBOX_HOME", home)
                )
                folder = Path(os.path.expandvars(text)).expanduser()
                if not folder.is_absolute():
                    folder = path.parent / folder
                body["replay_dir"] = str(folder.resolve())
    return parse_fleet(doc, path.name)
