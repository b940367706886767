"""Reservations: capacity booked for a time window (a workshop's seats), for executors that can
prepare for it (the ``burst`` pool pre-warms instances, rule 7 of :mod:`gateway_kit.burst.policy`).

A feature that books capacity registers a source with :func:`add_reservation_source`; an
executor asks :func:`reservations` for a destination's. The two never import each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask
from sqlalchemy.orm import Session

EXTENSION_KEY = "gateway_kit.jobs.reservations"


@dataclass(frozen=True)
class Reservation:
    """``seats`` seats of ``cpus``/``memory_mb``/``gpus`` each, wanted from ``starts`` to ``ends``
    (aware UTC datetimes) on ``destination``; ``pending`` of them are not in use yet."""

    key: str
    destination: str
    starts: datetime
    ends: datetime
    cpus: int
    memory_mb: int
    gpus: int
    pending: int
    seats: int


#: ``source(session, destination, now)``: the reservations on ``destination`` that end after ``now``.
Source = Callable[[Session, str, datetime], Iterable[Reservation]]


def add_reservation_source(app: Flask, source: Source) -> None:
    app.extensions.setdefault(EXTENSION_KEY, []).append(source)


def reservations(app: Flask, session: Session, destination: str, now: datetime) -> list[Reservation]:
    return [r for source in app.extensions.get(EXTENSION_KEY, []) for r in source(session, destination, now)]
