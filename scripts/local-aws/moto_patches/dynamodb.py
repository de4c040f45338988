"""DynamoDB gaps of moto 5.2.5: 10, 14 and 16."""
import copy
import functools
import threading

import moto.dynamodb.models as dynamodb_models
import moto.dynamodb.models.table as dynamodb_table
import moto.dynamodb.parsing.ast_nodes as dynamodb_ast
import moto.dynamodb.parsing.expressions as dynamodb_expressions
import moto.dynamodb.parsing.validators as dynamodb_validators

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


# Gap 16: an UpdateItem spends its time re-reading its own expression: an UpdateItem of fifteen SET
# actions took about 25 ms of the server's one core, where DynamoDB's latency does not depend on it.
# The expression is parsed twice per request (the response layer, then the backend); two of the
# validators that walk the parsed tree (at most one clause of each kind; no two actions on
# overlapping paths) run their check at every nested UpdateExpression node over all the actions
# beneath it, quadratic in the number of actions; every walk rebuilds the validator's table of node
# types at every node and matches each node against it by abstract-class checks; and each validation
# deep-copies the tree through copy's generic reduce protocol. Here, with the same results and the
# same errors:
#  - a parsed expression is kept by its text (nothing changes the parsed tree: each validation works
#    on its own deep copy);
#  - those two checks run once, at the root, over every action of the expression;
#  - a walk takes the validator's table once, and matches a node by its class, remembered;
#  - a tree node is deep-copied field by field (its type, its children, its parent).

_original_make = dynamodb_expressions.UpdateExpressionParser.make.__func__
_parsed = {}


def _make_once(cls, expression_str):
    tree = _parsed.get(expression_str)
    if tree is None:
        tree = _original_make(cls, expression_str)
        if len(_parsed) < 10_000:
            _parsed[expression_str] = tree
    return tree


def _at_the_root(check_name):
    def traverse(self, node):
        return getattr(self, check_name)(node)

    return traverse


_NOT_A_NODE = object()


def _traverse_once(self, node):
    processors = list(self._processing_map().items())
    by_class = {}

    def processor_of(node_class):
        """The processor of a class of node (None: a node left as it is; _NOT_A_NODE: not a node)."""
        if node_class not in by_class:
            if not issubclass(node_class, dynamodb_ast.Node):
                by_class[node_class] = _NOT_A_NODE
            else:
                by_class[node_class] = next((p for c, p in processors if issubclass(node_class, c)), None)
        return by_class[node_class]

    def visit(node, child_id):
        # moto's traverse_node_recursively, step for step.
        processor = processor_of(type(node))
        if processor is _NOT_A_NODE:
            return node
        parent_node = node.parent
        if node.children is not None:
            for i, child_node in enumerate(node.children):
                self.pre_processing_of_child(node, i)
                visit(child_node, i)
        if processor is not None:
            node = processor(node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node

    return visit(node, -1)


def _copy_node(self, memo):
    clone = object.__new__(type(self))
    memo[id(self)] = clone
    clone.type = self.type
    clone.children = None if self.children is None else [copy.deepcopy(child, memo) for child in self.children]
    clone.parent = copy.deepcopy(self.parent, memo)
    return clone


replace(dynamodb_expressions.UpdateExpressionParser, "make", classmethod(_make_once))
replace(dynamodb_validators.ActionCountValidator, "traverse", _at_the_root("verify_action_counts"))
replace(dynamodb_validators.OverlappingPathsValidator, "traverse", _at_the_root("check_for_overlapping_paths"))
replace(dynamodb_ast.DepthFirstTraverser, "traverse", _traverse_once, same_parameters=True)
# Set directly, not with replace(): moto's Node has no __deepcopy__ of its own (copy's generic path).
dynamodb_ast.Node.__deepcopy__ = _copy_node
