"""Demo rows for the local warehouse: flagged transactions as messy as the real `predicted_fraud`.

The rows follow the column order and text formats of `predicted_fraud` exported to CSV (the
layout of the shared `predicted_fraud_sample.csv`): timestamps as `2026-11-30 10:45:25`, amounts
as plain decimals, booleans as `true`/`false`, a missing value as an empty cell.

Names and merchants come from Faker in many locales, each paired with its currency. Every
address is on a reserved example domain (RFC 2606 / RFC 6761), so a demo can never mail a real
person. The generator also plants, at rates close to the shared sample, the mess the pipeline
must survive: transactions scored twice, missing names and addresses, shouted and padded
addresses, internationalised domains, `name at example.com`, non-ASCII local parts, names with
commas, quotes and parentheses, merchant names that need HTML escaping, rows already emailed.

Output is deterministic for a given seed and Faker version: every random draw, Faker's included,
derives from one `random.Random(seed)`. Faker's data files change between releases, so a Faker
upgrade may change the rows (never their layout).

Faker is imported inside `generate_rows`: it belongs to the `local` extra, and importing this
module must stay cheap and possible without it.
"""

from __future__ import annotations

import csv
import os
import random
import unicodedata
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.redshift.queries import TABLE_COLUMNS

if TYPE_CHECKING:
    from faker import Faker

DEFAULT_SEED = 20261130

# The contract table's columns, in its order: the CSV layout `fraud-alerts load` reads.
COLUMNS: tuple[str, ...] = TABLE_COLUMNS

Row = dict[str, str | None]

ASCII_DOMAINS: tuple[str, ...] = (
    "example.com",
    "example.org",
    "example.net",
    "mail.example",
    "bank.example",
)
IDN_DOMAINS: tuple[str, ...] = (
    "münchen.example",
    "bücher.example",
    "пример.example",
    "例え.example",
)
TRICKY_MERCHANTS: tuple[str, ...] = ("A&B <b>Bold</b>", 'Tom\'s "Best" Deals', "<Online> Outlet")
MODEL_VERSIONS: tuple[str, ...] = ("fraud-xgb-2026.11", "fraud-xgb-2026.12")

# The model scores one working morning: transactions from 08:00 to 14:00, each scored within
# ten minutes of happening.
DAY_START = datetime(2026, 11, 30, 8, 0, 0)
DAY_SECONDS = 6 * 3600
SCORING_DELAY_SECONDS = 600

# Rates per row (or per customer for properties of the customer), close to the shared sample.
RESCORE_RATE = 0.03
ALREADY_SENT_RATE = 0.10
MISSING_EMAIL_RATE = 0.01
MISSING_NAME_RATE = 0.01
SHOUTED_EMAIL_RATE = 0.02
AT_WORD_EMAIL_RATE = 0.01
IDN_DOMAIN_RATE = 0.02
NON_ASCII_LOCAL_RATE = 0.01
PUNCTUATED_NAME_RATE = 0.011
TRICKY_MERCHANT_RATE = 0.014
NUMBERED_LOCAL_RATE = 0.5

# A rescore picks a still-unrescored transaction among the most recent ones, as a model rerun
# would, and keeps memory bounded for large runs.
RESCORE_WINDOW = 500

_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_SAFE_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")


@dataclass(frozen=True, slots=True)
class Market:
    """A Faker locale and the currency its customers pay in."""

    locale: str
    currency: str
    decimals: int


MARKETS: tuple[Market, ...] = (
    Market("en_US", "USD", 2),
    Market("en_GB", "GBP", 2),
    Market("de_DE", "EUR", 2),
    Market("fr_FR", "EUR", 2),
    Market("it_IT", "EUR", 2),
    Market("nl_NL", "EUR", 2),
    Market("el_GR", "EUR", 2),
    Market("pl_PL", "PLN", 2),
    Market("tr_TR", "TRY", 2),
    Market("ru_RU", "RUB", 2),
    Market("pt_BR", "BRL", 2),
    # ar_EG draws English names in Faker; ar_SA has Arabic ones.
    Market("ar_SA", "SAR", 2),
    Market("hi_IN", "INR", 2),
    Market("zh_CN", "CNY", 2),
    Market("ja_JP", "JPY", 0),
    Market("ko_KR", "KRW", 0),
    Market("vi_VN", "VND", 0),
)


@dataclass(frozen=True, slots=True)
class _Customer:
    customer_id: str
    market: Market
    name: str | None
    email: str | None
    cards: tuple[str, ...]


def generate_rows(count: int, *, seed: int = DEFAULT_SEED) -> Iterator[Row]:
    """Yield `count` rows of `predicted_fraud`, keyed by column name, `None` for a missing value.

    About half as many customers as rows, so most customers have several flagged transactions.
    A rescored transaction repeats its row with a slightly different score or `predicted_at`.
    """
    rng = random.Random(seed)  # noqa: S311 - demo data: reproducible on purpose, not secret
    fakers = _fakers(rng)
    customers = _CustomerBook(rng, fakers, pool_size=max(1, count // 2))
    recent: deque[Row] = deque(maxlen=RESCORE_WINDOW)
    next_number = 1

    for _ in range(count):
        if recent and rng.random() < RESCORE_RATE:
            original = recent[rng.randrange(len(recent))]
            recent.remove(original)
            yield _rescore(rng, original)
            continue

        customer = customers.pick()
        row = _transaction(rng, fakers[customer.market.locale], customer, next_number)
        next_number += 1
        recent.append(row)
        yield row


def write_csv(path: str | os.PathLike[str], count: int, *, seed: int = DEFAULT_SEED) -> int:
    """Write `count` generated rows with a header to `path` (UTF-8, CRLF); return the row count."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0

    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in generate_rows(count, seed=seed):
            writer.writerow(["" if row[column] is None else row[column] for column in COLUMNS])
            written += 1

    return written


def _fakers(rng: random.Random) -> dict[str, Faker]:
    from faker import Faker

    fakers: dict[str, Faker] = {}
    for market in MARKETS:
        fake = Faker(market.locale)
        # A per-instance seed drawn from ours: one seed fixes every draw, and Faker's class-wide
        # `Faker.seed` state, which other code may use, is never touched.
        fake.seed_instance(rng.getrandbits(64))
        fakers[market.locale] = fake
    return fakers


class _CustomerBook:
    """Customers are made on first use, so a run costs Faker calls per customer actually used."""

    def __init__(self, rng: random.Random, fakers: dict[str, Faker], pool_size: int) -> None:
        self._rng = rng
        self._fakers = fakers
        self._pool_size = pool_size
        self._known: dict[int, _Customer] = {}

    def pick(self) -> _Customer:
        number = self._rng.randint(1, self._pool_size)
        if number not in self._known:
            self._known[number] = self._make(number)
        return self._known[number]

    def _make(self, number: int) -> _Customer:
        rng = self._rng
        market = rng.choice(MARKETS)
        fake = self._fakers[market.locale]
        name = _customer_name(rng, fake)
        cards = tuple(f"{rng.randrange(10_000):04d}" for _ in range(rng.choice((1, 1, 2))))
        return _Customer(
            customer_id=f"cust-{number:05d}",
            market=market,
            name=name,
            email=_customer_email(rng, fake, name),
            cards=cards,
        )


def _customer_name(rng: random.Random, fake: Faker) -> str | None:
    draw = rng.random()
    if draw < MISSING_NAME_RATE:
        return None
    if draw < MISSING_NAME_RATE + PUNCTUATED_NAME_RATE:
        return _punctuated_name(rng, fake)
    return fake.name()


def _punctuated_name(rng: random.Random, fake: Faker) -> str:
    first, last = fake.first_name(), fake.last_name()
    shapes = (
        f"{last}, Jr. ({first})",
        f'{first} "{fake.first_name()}" {last}',
        f"{last}, {first} (Dr.)",
    )
    return rng.choice(shapes)


def _customer_email(rng: random.Random, fake: Faker, name: str | None) -> str | None:
    if rng.random() < MISSING_EMAIL_RATE:
        return None

    local = _local_part(rng, fake, name)
    domain = (
        rng.choice(IDN_DOMAINS) if rng.random() < IDN_DOMAIN_RATE else rng.choice(ASCII_DOMAINS)
    )

    draw = rng.random()
    if draw < AT_WORD_EMAIL_RATE:
        return f"{local} at {domain}"
    if draw < AT_WORD_EMAIL_RATE + SHOUTED_EMAIL_RATE:
        return f"  {local}@{domain}".upper() + " "
    return f"{local}@{domain}"


def _local_part(rng: random.Random, fake: Faker, name: str | None) -> str:
    if name and not name.isascii() and rng.random() < NON_ASCII_LOCAL_RATE * 2:
        # Half the names are non-Latin or accented, so doubling the draw keeps the overall rate.
        # Letters and combining marks: Devanagari vowel signs are marks, not letters.
        word = name.split()[0].lower()
        letters = "".join(char for char in word if unicodedata.category(char)[0] in "LM")
        if letters and not letters.isascii():
            return letters

    if rng.random() < NUMBERED_LOCAL_RATE:
        return f"customer{rng.randint(10_000, 999_999)}"

    user = fake.user_name().lower()
    if user and set(user) <= _SAFE_LOCAL_CHARS:
        return user
    return f"customer{rng.randint(10_000, 999_999)}"


def _transaction(rng: random.Random, fake: Faker, customer: _Customer, number: int) -> Row:
    happened = DAY_START + timedelta(seconds=rng.randrange(DAY_SECONDS))
    scored = happened + timedelta(seconds=rng.randint(0, SCORING_DELAY_SECONDS))
    merchant = (
        rng.choice(TRICKY_MERCHANTS) if rng.random() < TRICKY_MERCHANT_RATE else fake.company()
    )

    return {
        "transaction_id": f"txn-{number:07d}",
        "customer_id": customer.customer_id,
        "customer_email": customer.email,
        "customer_name": customer.name,
        "card_last4": rng.choice(customer.cards),
        "amount": _amount(rng, customer.market),
        "currency": customer.market.currency,
        "merchant_name": merchant,
        "transaction_time": happened.strftime(_TIME_FORMAT),
        "fraud_score": f"0.{rng.randint(8000, 9999):04d}",
        "model_version": rng.choice(MODEL_VERSIONS),
        "predicted_at": scored.strftime(_TIME_FORMAT),
        "email_sent": "true" if rng.random() < ALREADY_SENT_RATE else "false",
    }


def _amount(rng: random.Random, market: Market) -> str:
    if market.decimals == 0:
        # Yen, won and dong amounts are whole and, for card payments this size, round hundreds.
        return str(rng.randint(11, 4_999) * 100)

    cents = rng.randint(100, 499_999)
    return f"{cents // 100}.{cents % 100:02d}"


def _rescore(rng: random.Random, original: Row) -> Row:
    score = int(str(original["fraud_score"]).removeprefix("0."))
    nudge = rng.choice((-1, 1)) * rng.randint(1, 5)
    if not 8000 <= score + nudge <= 9999:
        nudge = -nudge
    rescored = dict(original)
    rescored["fraud_score"] = f"0.{score + nudge:04d}"

    if rng.random() < 0.5:
        predicted = datetime.strptime(str(original["predicted_at"]), _TIME_FORMAT)
        later = predicted + timedelta(seconds=rng.randint(1, 120))
        rescored["predicted_at"] = later.strftime(_TIME_FORMAT)

    return rescored
