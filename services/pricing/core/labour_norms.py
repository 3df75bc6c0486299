"""Labour norms (工时定额) as data (``labour_norms.toml``): hours a task may take.

A labour line is judged by the task it names: "更换曳引机 人工" is the traction machine's
task. A generic line ("人工费", "安装调试费") is judged against ``base_hours`` plus the tasks
of every part the quote replaces. Hours are Decimal (a norm of 1.5 h is exact), never
float; one 工日 is 8 工时 (the references module's unit table).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from importlib import resources
from types import MappingProxyType
from typing import Any

_PACKAGE = "services.pricing.core"
_FILE = "labour_norms.toml"


class InvalidLabourNorms(ValueError):
    """The norms file is malformed; the message says where."""

    code = "INVALID_LABOUR_NORMS"


@dataclass(frozen=True)
class TaskNorm:
    hours: Decimal  # the first unit, or the whole job when more units take no longer
    per_extra_unit: Decimal = Decimal(0)

    def hours_for(self, units: Decimal, *, counted: bool) -> Decimal:
        """The norm for replacing ``units`` of the part; extra units add hours only when
        the part is counted in pieces (not for metres of rope)."""
        if not counted or units <= 1:
            return self.hours
        extra = units.to_integral_value(rounding=ROUND_CEILING) - 1
        return self.hours + self.per_extra_unit * extra


@dataclass(frozen=True)
class LabourNorms:
    version: str
    base_hours: Decimal
    default_task_hours: Decimal
    tasks: Mapping[str, TaskNorm]

    def task(self, category: str) -> TaskNorm:
        """The norm of replacing a part of ``category`` (the default when not listed)."""
        return self.tasks.get(category) or TaskNorm(self.default_task_hours)


def load_labour_norms(text: str | None = None) -> LabourNorms:
    """The norms from TOML ``text``; by default the table packaged with this module."""
    if text is None:
        text = resources.files(_PACKAGE).joinpath(_FILE).read_text(encoding="utf-8")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidLabourNorms(f"labour norms are not valid TOML: {error}") from None
    known = {"version", "base_hours", "default_task_hours", "task"}
    unknown = set(document) - known
    if unknown:
        raise InvalidLabourNorms(f"unknown keys {sorted(unknown)}")
    version = document.get("version")
    if not isinstance(version, str) or not version.strip():
        raise InvalidLabourNorms("labour norms need a non-empty string version")
    tasks_table = document.get("task", {})
    if not isinstance(tasks_table, dict):
        raise InvalidLabourNorms("task must be a table of [task.<category>] entries")
    tasks: dict[str, TaskNorm] = {}
    for code, entry in tasks_table.items():
        where = f"task.{code}"
        if not isinstance(entry, dict) or set(entry) - {"hours", "per_extra_unit"}:
            raise InvalidLabourNorms(f"{where} must be {{ hours = …, per_extra_unit = … }}")
        tasks[code] = TaskNorm(
            hours=_hours(entry.get("hours"), f"{where}.hours", positive=True),
            per_extra_unit=_hours(entry.get("per_extra_unit", 0), f"{where}.per_extra_unit"),
        )
    return LabourNorms(
        version=version,
        base_hours=_hours(document.get("base_hours"), "base_hours", positive=True),
        default_task_hours=_hours(
            document.get("default_task_hours"), "default_task_hours", positive=True
        ),
        tasks=MappingProxyType(tasks),
    )


def _hours(value: Any, where: str, *, positive: bool = False) -> Decimal:
    # bool is an int in Python: "hours = true" must not become one hour.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidLabourNorms(f"{where} must be a number of hours")
    hours = Decimal(str(value))
    if hours < 0 or (positive and hours == 0) or not hours.is_finite():
        raise InvalidLabourNorms(f"{where} must be {'positive' if positive else 'at least 0'}")
    return hours
