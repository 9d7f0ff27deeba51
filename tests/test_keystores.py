"""Where users' data keys live: files in the data dir, or PostgreSQL for workers on several hosts.
Either way two workers meeting a new user at once end up with one key, and a shred leaves none."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from memory.crypto import FileKeyStore, Keyring, KeyStore
from memory.pg_keystore import PostgresKeyStore

ROOT = b"r" * 32


def _race(make_store) -> set[str]:  # type: ignore[no-untyped-def]
    """Eight "workers" (own keyring, own cache, own store handle) meet the same new user at once;
    what each encrypts, every other must read."""
    keyrings: list[Keyring] = [Keyring(ROOT, make_store()) for _ in range(8)]
    start = threading.Barrier(len(keyrings))
    sealed: list[str] = [""] * len(keyrings)
    failures: list[BaseException] = []

    def work(i: int) -> None:
        start.wait()
        try:
            cipher = keyrings[i].cipher("tg:42")
            assert cipher is not None
            sealed[i] = cipher.encrypt(f"от воркера {i}", "m")
        except BaseException as exc:  # a worker that fails to start must fail the test by name
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(keyrings))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures, f"workers failed: {failures!r}"
    reader = Keyring(ROOT, make_store()).cipher("tg:42", create=False)
    assert reader is not None
    return {reader.decrypt(blob, "m") for blob in sealed}


def test_files_give_racing_workers_one_key(tmp_path: Path) -> None:
    assert _race(lambda: FileKeyStore(tmp_path / "keys")) == {f"от воркера {i}" for i in range(8)}
    assert len(list((tmp_path / "keys").iterdir())) == 1  # one key file, no leftovers


def test_postgres_gives_racing_workers_one_key(postgres_schema_url: str) -> None:
    assert _race(lambda: PostgresKeyStore(postgres_schema_url)) == {f"от воркера {i}" for i in range(8)}


def test_postgres_adopts_file_keys_and_a_shred_leaves_no_bytes(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    import psycopg

    files = FileKeyStore(tmp_path / "keys")
    before = Keyring(ROOT, files).cipher("tg:7")
    assert before is not None
    blob = before.encrypt("кот Бублик", "m")
    store: KeyStore = PostgresKeyStore(postgres_schema_url, legacy=files)
    after = Keyring(ROOT, store).cipher("tg:7", create=False)
    assert after is not None and after.decrypt(blob, "m") == "кот Бублик"  # the file key, now in the table
    wrapped = store.load(after.user_key)
    assert wrapped is not None

    def table_file() -> bytes:
        with psycopg.connect(postgres_schema_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
            data_dir = conn.execute("SHOW data_directory").fetchone()[0]  # type: ignore[index]
            relative = conn.execute("SELECT pg_relation_filepath('dora_user_keys')").fetchone()[0]  # type: ignore[index]
        return (Path(data_dir) / relative).read_bytes()

    try:
        on_disk = table_file()
    except PermissionError:
        pytest.skip("this user can't read PostgreSQL's data files: the on-disk check needs it")
    assert wrapped in on_disk  # the check below can see a key when there is one
    assert Keyring(ROOT, store).shred("tg:7")
    assert wrapped not in table_file()
    assert not list((tmp_path / "keys").glob("*.key"))  # the legacy file went too
    assert Keyring(ROOT, store).cipher("tg:7", create=False) is None
