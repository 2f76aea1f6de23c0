"""Shopify's GraphQL Admin API over the emulated shop: every document validated against the
schema Shopify published for the version (graphql-core), its cost computed, the leaky bucket
enforced, then executed against :class:`ShopState`.

The schema is ``admin_schema_2025-01.json.gz`` beside this file: Shopify's own introspection of
the Admin API 2025-01, as published in github.com/Shopify/dev-mcp (data/, ISC licence; see
SCHEMA-NOTICE.txt). 2025-01 was retired in January 2026 and no newer introspection is published
where we can read it, so the emulator serves **2026-10** (the newest stable version on 2026-11-27)
as that schema with the documented inventory changes of 2026-01 and 2026-04 applied
(:func:`_api_2026`). Other changes between the two versions are not modelled.

Cost and throttle follow "GraphQL Admin API rate limits" (shopify.dev/docs/apps/build/apis/
graphql-admin/rate-limits): a scalar or enum costs 0, an object 1, a connection 2 plus
``first``/``last`` times the cost of one of its nodes, a mutation's root field 10; the query is
charged its requested cost before it runs (it is refused with ``THROTTLED`` when the bucket holds
less) and a query over 1,000 points is refused with ``MAX_COST_EXCEEDED``; the bucket refills at
the plan's restore rate. Simplification, stated: the actual cost charged is the requested cost
(Shopify refunds what the answer did not use).
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, cast

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    build_client_schema,
    get_named_type,
    parse,
    validate,
)
from graphql.execution.values import get_directive_values
from graphql.utilities import value_from_ast_untyped

BASE_SCHEMA = Path(__file__).with_name("admin_schema_2025-01.json.gz")
# The versions served: each is the vendored schema with its documented changes applied.
API_VERSION = "2026-10"
SCHEMAS = {API_VERSION: BASE_SCHEMA}
MAX_QUERY_COST = 1000
MUTATION_COST = 10
# Restore rate per plan (points/second, the page above). The bucket holds 20 seconds of restore
# (Standard: 2,000 points at 100/s, the figures `throttleStatus` answered on standard shops).
PLANS = {"standard": 100.0, "advanced": 200.0, "plus": 1000.0, "enterprise": 2000.0}
BUCKET_SECONDS = 20.0


@cache
def admin_schema(version: str) -> GraphQLSchema:
    """The Admin API schema of ``version`` (KeyError when it is not vendored here)."""
    with gzip.open(SCHEMAS[version], "rt", encoding="utf-8") as f:
        data = json.load(f)
    schema = build_client_schema(cast(Any, _api_2026(data["data"])))
    # Shopify's schema deprecates some fields of types whose interface field is not: graphql-core
    # 3.3's check of the schema itself refuses that. The schema is what Shopify serves: trusted,
    # and only the documents sent to it are validated.
    schema._validation_errors = []
    return schema


def _api_2026(data: dict[str, Any]) -> dict[str, Any]:
    """The 2025-01 introspection with the inventory changes Shopify made since, as its developer
    changelog gives them (all posted 2025-12-12, under "Concurrency protection features for
    inventory and refund mutations", shopify.dev/changelog/concurrency-protection-features):

    - ``InventoryQuantityInput.changeFromQuantity: Int`` is added in 2026-01, and in 2026-04
      ``compareQuantity`` and ``InventorySetQuantitiesInput.ignoreCompareQuantity`` are removed
      (shopify.dev/changelog/finalizing-compare-and-swap-redesign-for-inventory-set-quantities);
    - the ``@idempotent(key: String!)`` directive is added in 2026-01, mandatory on
      ``inventorySetQuantities`` from 2026-04 though "it doesn't show up as mandatory at the
      schema level" (shopify.dev/changelog/making-idempotency-mandatory-for-inventory-
      adjustments-and-refund-mutations);
    - ``InventorySetQuantitiesUserErrorCode`` gains ``CHANGE_FROM_QUANTITY_STALE`` and the
      ``IDEMPOTENCY_*`` codes (shopify.dev/docs/api/admin-graphql/2026-10/enums/
      InventorySetQuantitiesUserErrorCode) and loses ``ITEM_NOT_STOCKED_AT_LOCATION`` in
      2026-10, when a quantity can be set at any location."""
    schema = data["__schema"]
    types = {t["name"]: t for t in schema["types"]}

    def named(kind: str, name: str) -> dict[str, Any]:
        return {"kind": kind, "name": name, "ofType": None}

    quantity = types["InventoryQuantityInput"]
    quantity["inputFields"] = [f for f in quantity["inputFields"] if f["name"] != "compareQuantity"]
    quantity["inputFields"].append(
        {
            "name": "changeFromQuantity",
            "description": "The current quantity to be compared against the persisted quantity "
            "(null: no comparison). Required from 2026-04.",
            "type": named("SCALAR", "Int"),
            "defaultValue": None,
            "isDeprecated": False,
            "deprecationReason": None,
        }
    )
    setter = types["InventorySetQuantitiesInput"]
    setter["inputFields"] = [
        f for f in setter["inputFields"] if f["name"] != "ignoreCompareQuantity"
    ]
    codes = types["InventorySetQuantitiesUserErrorCode"]["enumValues"]
    # Removed in 2026-10 (shopify.dev/changelog/removal-of-itemnotstockedatlocation-error).
    codes[:] = [c for c in codes if c["name"] != "ITEM_NOT_STOCKED_AT_LOCATION"]
    for code in (
        "CHANGE_FROM_QUANTITY_STALE",
        "IDEMPOTENCY_CONCURRENT_REQUEST",
        "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
        "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED",
    ):
        codes.append(
            {"name": code, "description": None, "isDeprecated": False, "deprecationReason": None}
        )
    schema["directives"].append(
        {
            "name": "idempotent",
            "description": "Makes a mutation idempotent: a request repeated with the same key "
            "returns the first one's result.",
            "locations": ["FIELD"],
            "args": [
                {
                    "name": "key",
                    "description": None,
                    "type": {"kind": "NON_NULL", "name": None, "ofType": named("SCALAR", "String")},
                    "defaultValue": None,
                    "isDeprecated": False,
                    "deprecationReason": None,
                }
            ],
        }
    )
    return data


def idempotency_key(info: Any) -> str | None:
    """The ``@idempotent(key:)`` of the field being resolved (variables substituted)."""
    directive = info.schema.get_directive("idempotent")
    if directive is None:
        return None
    values = get_directive_values(directive, info.field_nodes[0], info.variable_values)
    return None if values is None else str(values["key"])


@dataclass
class Bucket:
    """The leaky bucket of one app on one shop."""

    restore_rate: float
    maximum: float
    available: float = -1.0
    at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.available < 0:
            self.available = self.maximum

    def refill(self) -> None:
        now = time.monotonic()
        self.available = min(self.maximum, self.available + (now - self.at) * self.restore_rate)
        self.at = now

    def status(self) -> dict[str, float]:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": round(self.available, 1),
            "restoreRate": self.restore_rate,
        }


def bucket_for(plan: str) -> Bucket:
    rate = PLANS[plan]
    return Bucket(restore_rate=rate, maximum=rate * BUCKET_SECONDS)


@dataclass(frozen=True, slots=True)
class Prepared:
    operation: OperationDefinitionNode
    document: Any
    cost: int
    is_mutation: bool


def prepare(
    schema: GraphQLSchema, query: str, variables: dict[str, Any] | None, operation: str | None
) -> Prepared | list[dict[str, Any]]:
    """Parse, validate and cost a document; a list of GraphQL errors when it is refused."""
    try:
        document = parse(query)
    except GraphQLError as err:
        return [dict(err.formatted)]
    errors = validate(schema, document)
    if errors:
        return [dict(e.formatted) for e in errors]
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation is None or (o.name and o.name.value == operation)]
    if len(chosen) != 1:
        return [{"message": "An operation name is required when several operations are sent"}]
    op = chosen[0]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    is_mutation = op.operation is OperationType.MUTATION
    root = schema.mutation_type if is_mutation else schema.query_type
    assert root is not None
    cost = _selection_cost(
        schema, root, op.selection_set, fragments, variables or {}, root_mutation=is_mutation
    )
    return Prepared(op, document, cost, is_mutation)


def _argument(field: FieldNode, name: str, variables: dict[str, Any]) -> Any:
    for arg in field.arguments or ():
        if arg.name.value == name:
            return value_from_ast_untyped(arg.value, variables)
    return None


def _selection_cost(
    schema: GraphQLSchema,
    parent: Any,
    selection: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    *,
    root_mutation: bool = False,
) -> int:
    if selection is None:
        return 0
    total = 0
    for node in selection.selections:
        if isinstance(node, FragmentSpreadNode):
            fragment = fragments[node.name.value]
            on = schema.get_type(fragment.type_condition.name.value)
            total += _selection_cost(schema, on, fragment.selection_set, fragments, variables)
            continue
        if isinstance(node, InlineFragmentNode):
            on = schema.get_type(node.type_condition.name.value) if node.type_condition else parent
            total += _selection_cost(schema, on, node.selection_set, fragments, variables)
            continue
        assert isinstance(node, FieldNode)
        name = node.name.value
        if name.startswith("__"):
            continue
        fields = getattr(parent, "fields", None) or {}
        definition = fields.get(name)
        if definition is None:  # a field of an interface or union member: counted as 1
            total += 1
            continue
        named = get_named_type(definition.type)
        children = _selection_cost(schema, named, node.selection_set, fragments, variables)
        if root_mutation:
            total += MUTATION_COST + children
        elif not isinstance(named, GraphQLObjectType) and node.selection_set is None:
            continue  # scalar, enum: 0
        elif named.name.endswith("Connection"):
            size = _argument(node, "first", variables) or _argument(node, "last", variables)
            total += 2 + int(size or 1) * _node_cost(schema, named, node, fragments, variables)
        else:
            size = _argument(node, "first", variables) if _is_list(definition.type) else None
            total += int(size or 1) * (1 + children)
    return total


def _is_list(kind: Any) -> bool:
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    return isinstance(kind, GraphQLList)


def _node_cost(
    schema: GraphQLSchema,
    connection: GraphQLObjectType,
    field: FieldNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> int:
    """The cost of one node of a connection: its object (1) and what is selected in it."""
    cost = 0
    for sub in field.selection_set.selections if field.selection_set else ():
        if not isinstance(sub, FieldNode):
            continue
        if sub.name.value == "nodes":
            node_type = get_named_type(connection.fields["nodes"].type)
            cost = max(
                cost,
                1 + _selection_cost(schema, node_type, sub.selection_set, fragments, variables),
            )
        elif sub.name.value == "edges":
            edge_type = get_named_type(connection.fields["edges"].type)
            cost = max(
                cost, _selection_cost(schema, edge_type, sub.selection_set, fragments, variables)
            )
    return cost
