"""Run moto's DynamoDB-capable API server and exit when the process that started it dies.

Usage: python scripts/moto_server.py -H 127.0.0.1 -p PORT
(the arguments are moto_server's own). Started by tests/dynamo-local and scripts/local-stack.

moto serves requests on threads, and it rolls a failed TransactWriteItems back by restoring
a copy of the tables taken when that transaction began: a transaction that committed
meanwhile on another thread is erased with it (a lost update real DynamoDB never makes).
Requests are therefore executed one at a time, so each is atomic, as in DynamoDB; clients
still connect and wait concurrently.
"""
import os
import sys
import threading
import time

import moto.server as moto_server

PARENT = os.getppid()
REQUESTS = threading.Lock()


class AtomicRequests(moto_server.DomainDispatcherApplication):
    """moto's WSGI application, one request at a time (the body is built inside the lock)."""

    def __call__(self, environ, start_response):
        with REQUESTS:
            return list(super().__call__(environ, start_response))


def exit_with_parent() -> None:
    while True:
        if os.getppid() != PARENT:
            os._exit(0)
        time.sleep(0.5)


if __name__ == "__main__":
    threading.Thread(target=exit_with_parent, daemon=True).start()
    moto_server.DomainDispatcherApplication = AtomicRequests
    moto_server.main(sys.argv[1:])
