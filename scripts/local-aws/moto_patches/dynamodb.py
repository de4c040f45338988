"""DynamoDB gaps of moto 5.2.5: 10, 14."""
import functools
import threading

import moto.dynamodb.models as dynamodb_models
import moto.dynamodb.models.table as dynamodb_table

from ._patching import Parameters, replace

# Gap 10: a Query on a table's partition key gathers and sorts every item of the table before it
# picks the partition's: its cost grows with the table, so a ledger of a few thousand keys serves
# each Query in tens of milliseconds. DynamoDB reads the one partition. Here a table Query reads
# only the items under its partition key (index queries are left as they are).

_one_partition = threading.local()
_original_table_query = dynamodb_table.Table.query
_original_all_items = dynamodb_table.Table.all_items
_TABLE_QUERY = Parameters(_original_table_query, "hash_key", "index_name")


def _query_one_partition(self, *args, **kwargs):
    call = _TABLE_QUERY.bind(self, *args, **kwargs).arguments
    if call["index_name"] or call["hash_key"] is None:
        return _original_table_query(self, *args, **kwargs)
    _one_partition.scope = (self, call["hash_key"])
    try:
        return _original_table_query(self, *args, **kwargs)
    finally:
        _one_partition.scope = None


def _items_in_scope(self):
    scope = getattr(_one_partition, "scope", None)
    if scope is None or scope[0] is not self:
        return _original_all_items(self)
    partition = self.items.get(scope[1])
    if partition is None:
        return []
    return list(partition.values()) if self.range_key_attr else [partition]


replace(dynamodb_table.Table, "query", _query_one_partition)
replace(dynamodb_table.Table, "all_items", _items_in_scope)


# Gap 14: a conditional write is not atomic. The server runs each request in a thread of its own,
# and moto's UpdateItem reads the item, copies it, evaluates the condition and writes, with the
# interpreter free to switch threads in between: two UpdateItems on an absent item, each conditional
# on its absence, can both succeed (seen here: two invocations each claiming one version). DynamoDB
# applies the writes to an item one at a time. Here every write (Put, Update, Delete, a transaction,
# a batch) runs under one lock; reads are left concurrent.

_writes = threading.RLock()


def _one_at_a_time(write):
    @functools.wraps(write)
    def serialized(self, *args, **kwargs):
        with _writes:
            return write(self, *args, **kwargs)

    return serialized


for _name in ("put_item", "update_item", "delete_item", "transact_write_items"):
    replace(
        dynamodb_models.DynamoDBBackend,
        _name,
        _one_at_a_time(getattr(dynamodb_models.DynamoDBBackend, _name)),
        same_parameters=True,
    )
