"""Repeated wrong passwords lock the account for a while.

Five failures in a row lock it for fifteen minutes; a correct sign-in resets the count. The
lock is per account, not per address: a guesser
rotating addresses still meets it, and the lock expires by itself so an attacker cannot lock a
colleague out for good. The sign-in page says the same thing for an unknown user, a wrong
password and a locked account, so it tells a guesser nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)


@dataclass(frozen=True)
class Attempts:
    failures: int
    locked_until: datetime | None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: datetime) -> Attempts:
        failures = (
            0 if self.locked_until is not None and now >= self.locked_until else self.failures
        )
        failures += 1
        if failures >= MAX_FAILURES:
            return Attempts(failures=0, locked_until=now + LOCK_FOR)
        return Attempts(failures=failures, locked_until=self.locked_until)

    @staticmethod
    def after_success() -> Attempts:
        return Attempts(failures=0, locked_until=None)
