"""moto's server, with one change: DynamoDB requests are handled one at a time.

moto serves requests on threads and does not isolate DynamoDB's conditional writes and
transactions from each other: under load, two concurrent conditional updates of one item can
both pass their condition, which DynamoDB never allows. Leases, idempotent puts, revocations
and claims rely on exactly that guarantee, so the emulator must keep it. Every other service
(SQS long polls among them) stays concurrent. Arguments are moto_server's.
"""

import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _one_at_a_time(self):
    with _lock:
        return _call_action(self)


DynamoHandler.call_action = _one_at_a_time

if __name__ == "__main__":
    sys.exit(main())
