"""A throw-away PostgreSQL server of a benchmark's own (initdb + pg_ctl in a temp dir, trust auth on
127.0.0.1, a free port). Standard library only. Unlike the tests' server, fsync stays on: a benchmark
should pay for durable commits as a data center's database would."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from bench.mosquitto import free_port

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")


class Postgres:
    def __init__(self) -> None:
        bindir = next((d for d in PG_BIN_CANDIDATES if os.access(f"{d}/initdb", os.X_OK)), None)
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed: apt-get install -y postgresql")
        self.bindir = bindir
        self.port = free_port("127.0.0.1")
        self.topdir = Path(tempfile.mkdtemp(prefix="medbot-bench-pg-"))
        self.topdir.chmod(0o755)  # the server may run as the `postgres` user
        self.datadir = self.topdir / "data"
        self._prefix: list[str] = []

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> Postgres:
        if os.geteuid() == 0:  # initdb refuses root: run the server as the packaged `postgres` user
            import pwd

            user = pwd.getpwnam("postgres")
            self._prefix = ["runuser", "-u", "postgres", "--"]
            self.datadir.mkdir()
            os.chown(self.datadir, user.pw_uid, user.pw_gid)
        subprocess.run([*self._prefix, f"{self.bindir}/initdb", "-D", str(self.datadir), "-A", "trust", "-U",
                        "postgres"], check=True, capture_output=True, timeout=120)
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c max_connections=50"
        subprocess.run([*self._prefix, f"{self.bindir}/pg_ctl", "-D", str(self.datadir), "-o", options, "-l",
                        str(self.datadir / "log"), "-w", "-t", "60", "start"], check=True, capture_output=True,
                       timeout=90)
        return self

    def new_database(self) -> str:
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        subprocess.run([*self._prefix, f"{self.bindir}/pg_ctl", "-D", str(self.datadir), "-m", "fast", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.topdir, ignore_errors=True)

    def __enter__(self) -> Postgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
