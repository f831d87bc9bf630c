"""Typed settings from YAML: one reader for the configuration dataclasses (retrieval, answer check).

Why one: a bad file, an unknown key or a bad value should read the same whichever settings it is, and
name the file, so a typo in a YAML file is reported rather than silently replaced by a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

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


class YamlSettings:
    """Base of the settings dataclasses: `to_dict` for summaries, `from_dict` and `from_yaml` through the
    readers above. `settings_name` names the settings in error messages ("unknown retrieval setting")."""

    settings_name: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return settings_from_dict(cls, data, cls.settings_name)

    @classmethod
    def from_yaml(cls, path: Path) -> Self:
        return settings_from_yaml(cls, path, cls.settings_name)
