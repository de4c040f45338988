"""EventBridge gap of moto 5.2.5: 3."""
import moto.events.models as events_models

from ._patching import Parameters, replace

# Gap 3: an event forwarded to another region's bus reaches its SQS targets without the "account"
# field every EventBridge event carries. It is filled in with the rule's account.

_original_send_to_sqs_queue = events_models.Rule._send_to_sqs_queue
_SEND_TO_SQS_QUEUE = Parameters(_original_send_to_sqs_queue, "event")


def _send_to_sqs_queue_with_account(self, *args, **kwargs):
    event = _SEND_TO_SQS_QUEUE.bind(self, *args, **kwargs).arguments["event"]
    if isinstance(event, dict):
        event.setdefault("account", self.account_id)
    return _original_send_to_sqs_queue(self, *args, **kwargs)


replace(events_models.Rule, "_send_to_sqs_queue", _send_to_sqs_queue_with_account)
