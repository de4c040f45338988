"""SQS gaps of moto 5.2.5: 9 and 13."""
import threading

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
