"""Deterministic fake values: ids, names and timestamps drawn from one seeded RNG.

Nothing here reads the wall clock, so the same seed always yields the same data.
"""

from __future__ import annotations

import calendar
import random
import re
import time
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

T = TypeVar("T")

MICROS = 1_000_000


@dataclass(frozen=True)
class Window:
    """A span of time (epoch seconds, inclusive) that generated timestamps fall into."""

    start: int
    end: int


# Ends an hour early so derived later times (updated_at, shift ends) stay inside 2024.
YEAR_2024 = Window(start=1_704_067_200, end=1_735_675_199)
MUTATION_EPOCH = 1_735_689_600  # 2025-01-01T00:00:00Z: every mutation is later than the base data


def mutation_window(index: int) -> Window:
    """The hour that the `index`-th call of mutate() stamps its changes with (one day apart)."""
    start = MUTATION_EPOCH + index * 86_400
    return Window(start=start, end=start + 3_599)


def format_timestamp(micros: int, fraction_digits: int = 0) -> str:
    """RFC 3339 UTC with `Z`, optionally with 3 or 6 fractional digits."""
    seconds, rest = divmod(micros, MICROS)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction_digits == 3:
        text += f".{rest // 1000:03d}"
    elif fraction_digits == 6:
        text += f".{rest:06d}"
    return text + "Z"


_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(Z|z|[+-]\d{2}:?\d{2})?$"
)


@lru_cache(maxsize=65_536)
def parse_timestamp(text: str) -> int:
    """Epoch microseconds of an ISO 8601 timestamp (naive means UTC); ValueError if malformed.

    Integer microseconds keep comparisons exact where floats would round.
    """
    match = _TIMESTAMP.match(text.strip())
    if not match:
        raise ValueError(f"not an ISO 8601 timestamp: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    seconds = calendar.timegm(
        (int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    )
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "+" else 1
        digits = zone[1:].replace(":", "")
        seconds += sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    return seconds * MICROS + micros


FIRST_NAMES = (
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Edsger",
    "Radia",
    "Donald",
    "Hedy",
    "John",
    "Katherine",
    "Tim",
    "Sophie",
    "Niklaus",
    "Annie",
    "Guido",
)
LAST_NAMES = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Knuth",
    "Lamarr",
    "Backus",
    "Johnson",
    "Berners-Lee",
    "Wilson",
    "Wirth",
    "Easley",
    "van Rossum",
    "O'Neil",
    "Müller",
)
COMPANY_WORDS = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Wonka",
    "Aperture",
    "Massive",
    "Dynamic",
    "Oceanic",
)
COMPANY_SUFFIXES = ("Inc", "LLC", "GmbH", "Ltd", "Co", "Labs", "Group")
CITIES = (
    ("US", "Springfield"),
    ("US", "Portland"),
    ("DE", "Berlin"),
    ("FR", "Lyon"),
    ("GB", "Leeds"),
    ("NL", "Utrecht"),
    ("ES", "Sevilla"),
    ("JP", "Osaka"),
    ("BR", "Recife"),
)
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD")


class Fake:
    """Fake values drawn from one `random.Random`, so generation order fixes the data."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, choices: Sequence[T]) -> T:
        return choices[self.rng.randrange(len(choices))]

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def maybe(self, value: T, null_probability: float = 0.2) -> T | None:
        """`value`, or None now and then: nullable fields must sometimes be null."""
        return None if self.chance(null_probability) else value

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex(self, length: int) -> str:
        return f"{self.rng.getrandbits(4 * length):0{length}x}"

    def first_name(self) -> str:
        return self.pick(FIRST_NAMES)

    def last_name(self) -> str:
        return self.pick(LAST_NAMES)

    def company(self) -> str:
        return f"{self.pick(COMPANY_WORDS)} {self.pick(COMPANY_SUFFIXES)}"

    def email(self, first: str, last: str) -> str:
        ascii_name = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore")
        local = ascii_name.decode().lower().replace(" ", "").replace("'", "")
        return f"{local}{self.rng.randrange(100)}@example.com"

    def phone(self) -> str:
        return f"+1-555-{self.rng.randrange(1000):03d}-{self.rng.randrange(10000):04d}"

    def city(self) -> tuple[str, str]:
        """(country code, city)."""
        return self.pick(CITIES)

    def postal_code(self) -> str:
        return f"{self.rng.randrange(10000, 99999)}"

    def currency(self) -> str:
        return self.pick(CURRENCIES)

    def moment(self, window: Window) -> int:
        """A random instant (epoch microseconds) inside `window`."""
        return self.rng.randint(window.start * MICROS, window.end * MICROS)

    def stamp(self, micros: int) -> str:
        """Format an instant; roughly one in three carries fractional seconds."""
        return format_timestamp(micros, self.pick((0, 0, 0, 0, 3, 3, 6)))

    def timestamp(self, window: Window) -> str:
        return self.stamp(self.moment(window))

    def created_updated(self, window: Window) -> tuple[str, str]:
        """A (created, updated) pair with updated at least two seconds after created."""
        created = self.moment(window)
        latest = max(created + 2 * MICROS, window.end * MICROS)
        updated = self.rng.randint(created + 2 * MICROS, latest)
        return self.stamp(created), self.stamp(updated)

    def drift(self) -> dict[str, Any]:
        """Undocumented extra fields: real APIs add fields, and the tap must tolerate them."""
        extra: dict[str, Any] = {"_sandbox_rev": 1}
        if self.chance(0.3):
            extra["metadata"] = {"source": self.pick(("import", "api", "dashboard"))}
        return extra
