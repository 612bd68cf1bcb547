"""Run moto's DynamoDB-capable API server and exit when the process that started it dies.

Usage: python scripts/moto_server.py -H 127.0.0.1 -p PORT
(the arguments are moto_server's own). Started by tests/dynamo-local and scripts/local-stack.

Two changes to moto (5.2.5, pinned in scripts/tools.requirements.txt), installed by
`install()`:

- Requests are executed one at a time, so each is atomic, as in DynamoDB (clients still
  connect and wait concurrently). moto serves requests on threads and rolls a failed
  TransactWriteItems back by restoring a copy of the tables taken when it began: a
  transaction that committed meanwhile on another thread would be erased with it.
- A TransactWriteItems snapshots only the items it touches (and the length of the table's
  stream), not the whole table: moto deep-copies every table of the transaction once per
  item of it, so its time and memory grew with the table (a re-delivered 1000-event POST
  grew the server past 8 GB). A cancelled transaction restores those items and truncates
  the stream records it added; indexes are derived from the items, so they follow.
  `scripts/test_moto_server.py` shows a cancelled transaction leaves every item, index
  entry and stream record as before. `MOTO_TRANSACTIONS_COPY_TABLES=1` leaves moto's own
  whole-table backup in place (to measure the difference: tests/local-stack's
  `ingest_load` example).
"""
import copy
import os
import sys
import threading
import time

import moto.dynamodb.models as dynamodb_models
import moto.server as moto_server
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

PARENT = os.getppid()
REQUESTS = threading.Lock()
_MISSING = object()


class AtomicRequests(moto_server.DomainDispatcherApplication):
    """moto's WSGI application, one request at a time (the body is built inside the lock)."""

    def __call__(self, environ, start_response):
        with REQUESTS:
            return list(super().__call__(environ, start_response))


class _TablesNotCopied:
    """Stands in for the `copy` module inside moto's DynamoDB backend while a transaction
    runs: tables are not copied (the transaction's own snapshot restores what it
    touched), anything else is."""

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


class _Snapshot:
    """The items a transaction touches, as they were, and the length of each stream."""

    def __init__(self, backend, transact_items):
        self.items = []  # (table, hash, range or None, hash existed, item or _MISSING)
        self.streams = []  # (shard, its records list, length)
        tables = {}
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            tables[id(table)] = table
            attrs = op.get("Item") if "Item" in op else op.get("Key", {})
            if table.hash_key_attr not in attrs:
                continue
            hash_value = DynamoType(attrs[table.hash_key_attr])
            range_value = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in attrs:
                    continue
                range_value = DynamoType(attrs[table.range_key_attr])
            # `table.items` is a defaultdict: look without creating entries.
            existing = table.items.get(hash_value, _MISSING)
            had_hash = existing is not _MISSING
            if range_value is None:
                old = existing
            else:
                old = existing.get(range_value, _MISSING) if had_hash else _MISSING
            if old is not _MISSING:
                old = copy.deepcopy(old)
            self.items.append((table, hash_value, range_value, had_hash, old))
        for table in tables.values():
            shard = table.stream_shard
            if shard is not None:
                self.streams.append((shard, shard.items, len(shard.items)))

    def restore(self):
        for table, hash_value, range_value, had_hash, old in reversed(self.items):
            if range_value is None:
                if old is _MISSING:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = old
                continue
            if old is _MISSING:
                table.items.get(hash_value, {}).pop(range_value, None)
            else:
                table.items[hash_value][range_value] = old
        for table, hash_value, range_value, had_hash, _ in self.items:
            if not had_hash and range_value is not None and not table.items.get(hash_value, True):
                table.items.pop(hash_value, None)
        for shard, records, length in self.streams:
            del records[length:]
            shard.items = records


_moto_transact_write_items = DynamoDBBackend.transact_write_items


def _transact_write_items(self, transact_items):
    try:
        snapshot = _Snapshot(self, transact_items)
    except Exception:
        # A request moto will refuse anyway: let moto's own (whole-table) backup handle it.
        return _moto_transact_write_items(self, transact_items)
    dynamodb_models.copy = _TablesNotCopied
    try:
        return _moto_transact_write_items(self, transact_items)
    except Exception:
        snapshot.restore()
        raise
    finally:
        dynamodb_models.copy = copy


def install() -> None:
    """Install both changes into moto (idempotent)."""
    moto_server.DomainDispatcherApplication = AtomicRequests
    if os.environ.get("MOTO_TRANSACTIONS_COPY_TABLES") != "1":
        DynamoDBBackend.transact_write_items = _transact_write_items


def exit_with_parent() -> None:
    while True:
        if os.getppid() != PARENT:
            os._exit(0)
        time.sleep(0.5)


if __name__ == "__main__":
    threading.Thread(target=exit_with_parent, daemon=True).start()
    install()
    moto_server.main(sys.argv[1:])
