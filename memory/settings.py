"""Typed settings from YAML: one reader for the configuration dataclasses (retrieval, answer check).

Why one: a bad file, an unknown key or a bad value should read the same whichever settings it is, and
name the file, so a typo in a YAML file is reported rather than silently replaced by a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

Settings = TypeVar("Settings")


def settings_from_dict(cls: type[Settings], data: Mapping[str, Any], what: str) -> Settings:
    """`cls(**data)`, refusing keys `cls` does not have (`what` names the settings in the message)."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(
            f"unknown {what} setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return cls(**data)


def settings_from_yaml(cls: type[Settings], path: Path, what: str) -> Settings:
    """Settings from a YAML mapping; every problem with the file is a ValueError naming it (a missing
    or unreadable file stays an OSError)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: {what} settings must be a mapping, got {type(data).__name__}")
    try:
        return settings_from_dict(cls, data, what)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None
