"""Session states and the one table of allowed transitions."""

from __future__ import annotations

from enum import StrEnum


class SessionState(StrEnum):
    QUEUED = "queued"
    STARTING = "starting"
    READY = "ready"
    ENDING = "ending"
    ENDED = "ended"
    FAILED = "failed"


TERMINAL = frozenset({SessionState.ENDED, SessionState.FAILED})
#: The states in which a server process (or instance, or batch job) may exist.
LIVE = frozenset({SessionState.STARTING, SessionState.READY, SessionState.ENDING})

TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    SessionState.QUEUED: frozenset({SessionState.STARTING, SessionState.ENDED, SessionState.FAILED}),
    SessionState.STARTING: frozenset({SessionState.READY, SessionState.ENDING, SessionState.FAILED}),
    SessionState.READY: frozenset({SessionState.ENDING, SessionState.FAILED}),
    SessionState.ENDING: frozenset({SessionState.ENDED, SessionState.FAILED}),
    SessionState.ENDED: frozenset(),
    SessionState.FAILED: frozenset(),
}


def can_move(old: SessionState, new: SessionState) -> bool:
    return new in TRANSITIONS[old]
