"""SQS gaps of moto 5.2.5: 9, 13 and 18."""
import threading
import time

import moto.sqs.models as sqs_models
from moto.core.utils import unix_time

from ._patching import Parameters, replace

# Gap 9: ReceiveMessage checks each message's retention by computing all of the queue's attributes,
# approximate counts included, each of which walks every message: one receive costs O(messages^2),
# so a queue of a few thousand messages serves seconds per receive. Here the check reads the
# retention period alone, as SQS would.


def _retained(self, queue_name, message):
    retention_period = int(self.get_queue(queue_name).message_retention_period)
    return retention_period + message.sent_timestamp / 1000 > unix_time()


replace(sqs_models.SQSBackend, "is_message_valid_based_on_retention_period", _retained, same_parameters=True)

# Gap 13: ReceiveMessage is not atomic: two concurrent receivers can both take the same visible
# message before either marks it in flight, so one message runs twice at once (SQS delivers at least
# once, but such duplicates are rare, not routine under load). Here receives are serialized; a long
# poll waits outside the lock.

_receive_lock = threading.RLock()
_original_receive_message = sqs_models.SQSBackend.receive_message
_RECEIVE_MESSAGE = Parameters(_original_receive_message, "queue_name", "wait_seconds_timeout")


def _receive_message_atomically(self, *args, **kwargs):
    call = _RECEIVE_MESSAGE.bind(self, *args, **kwargs)
    queue_name = call.arguments["queue_name"]
    deadline = unix_time() + (call.arguments["wait_seconds_timeout"] or 0)
    call.arguments["wait_seconds_timeout"] = 0  # each try under the lock returns at once
    while True:
        with _receive_lock:
            result = _original_receive_message(*call.args, **call.kwargs)
        if result or unix_time() >= deadline:
            return result
        self.get_queue(queue_name).wait_for_messages(1)


replace(sqs_models.SQSBackend, "receive_message", _receive_message_atomically)

# Gap 18: every ReceiveMessage lists all the queue's visible messages before it takes the ten it
# returns, and every SendMessage counts the queue (it reads all the queue's attributes, approximate
# counts included); each message's visibility is read through moto's datetime arithmetic (about 10
# microseconds a message). From a queue of 2,000 messages a receive and delete cost about 3.5 ms of
# the server's core per message, a send 31.5 ms. SQS's cost does not grow with the queue. Here a
# message's visibility is read from the clock directly (the same comparisons), and a receive takes
# visible messages in queue order until it has enough instead of listing all of them first; counts
# still count every message.

def _now_millis():
    return time.time() * 1000


def _visible(self):
    return _now_millis() > self.visible_at


def _delayed(self):
    return _now_millis() < self.delayed_until


class _VisibleMessages:
    """A queue's visible, undelayed messages in queue order, read as they are iterated."""

    def __init__(self, queue):
        self._snapshot = list(queue._messages)

    def __iter__(self):
        return (m for m in self._snapshot if m.visible and not m.delayed)

    def __len__(self):
        return sum(1 for _ in self)


replace(sqs_models.Message, "visible", property(_visible))
replace(sqs_models.Message, "delayed", property(_delayed))
replace(sqs_models.Queue, "messages", property(_VisibleMessages))
