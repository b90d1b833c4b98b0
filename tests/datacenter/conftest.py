"""Fixtures of the data center's tests: a store on SQLite and on a fresh database of a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from datacenter.store import Store


def new_database(postgres_url: str) -> str:
    """A fresh, empty database on the test session's PostgreSQL server; its URL."""
    import psycopg

    name = f"dc_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def new_pg_database(postgres_url: str) -> Callable[[], str]:
    """``new_pg_database()`` -> the URL of a fresh database on the session's PostgreSQL server."""
    return lambda: new_database(postgres_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'dc.db'}")
    else:
        s = Store(new_database(request.getfixturevalue("postgres_url")))
    yield s
    s.close()
