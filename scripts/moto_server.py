"""Run moto's DynamoDB-capable API server and exit when the process that started it dies.

Usage: python scripts/moto_server.py -H 127.0.0.1 -p PORT
(the arguments are moto_server's own). Started by tests/dynamo-local and scripts/local-stack.
"""
import os
import sys
import threading
import time

from moto.server import main

PARENT = os.getppid()


def exit_with_parent() -> None:
    while True:
        if os.getppid() != PARENT:
            os._exit(0)
        time.sleep(0.5)


if __name__ == "__main__":
    threading.Thread(target=exit_with_parent, daemon=True).start()
    main(sys.argv[1:])
