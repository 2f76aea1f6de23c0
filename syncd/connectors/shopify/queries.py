"""The GraphQL documents the Shopify connector sends (Admin API 2026-10; each is validated by the
emulator against the vendored schema with the changes documented since, see emulator/gql.py)."""

ORDERS_QUERY = """
query Orders($first: Int!, $after: String, $query: String, $lines: Int!, $refunds: Int!,
             $refundLines: Int!) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id name test createdAt updatedAt cancelledAt
      lineItems(first: $lines) {
        pageInfo { hasNextPage }
        nodes { id name sku quantity currentQuantity variant { sku barcode } }
      }
      refunds(first: $refunds) {
        refundLineItems(first: $refundLines) {
          pageInfo { hasNextPage }
          nodes { quantity restockType lineItem { id } }
        }
      }%s
    }
  }
}
"""
# Where an order takes its units, read only by a channel told each location apart: Order.
# fulfillmentOrders → FulfillmentOrder.assignedLocation → FulfillmentOrderAssignedLocation.location
# ("the location where the fulfillment is expected to happen"; the vendored 2025-01 schema,
# emulator/admin_schema_2025-01.json.gz). Order.physicalLocation is deprecated there, and
# retailLocation is only a POS order's. 2 per order: the first is where Shopify placed it.
ORDER_LOCATIONS = """
      fulfillmentOrders(first: 2) { nodes { assignedLocation { location { id } } } }"""
FULFILMENT_ORDERS = 2

VARIANTS_QUERY = """
query Variants($first: Int!, $query: String, $location: ID!) {
  productVariants(first: $first, query: $query) {
    nodes {
      sku barcode displayName
      inventoryItem {
        id tracked
        inventoryLevel(locationId: $location) { quantities(names: ["available"]) { quantity } }
      }
    }
  }
}
"""

SET_QUANTITIES = """
mutation SetAvailable($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    userErrors { code field message }
    inventoryAdjustmentGroup { id }
  }
}
"""

BULK_RUN = """
mutation Bulk($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message }
  }
}
"""

BULK_POLL = """
query { currentBulkOperation(type: QUERY) { id status errorCode objectCount url } }
"""

BULK_LEVELS = """
{ productVariants { edges { node {
  id sku barcode displayName
  inventoryItem { id tracked
    inventoryLevel(locationId: "%s") { quantities(names: ["available"]) { quantity } } }
} } } }
"""

# The userError codes of inventorySetQuantities the connector acts on.
STALE = "CHANGE_FROM_QUANTITY_STALE"
# Refusals of the @idempotent key itself (shopify.dev/docs/api/admin-graphql/2026-10/enums/
# InventorySetQuantitiesUserErrorCode): nothing was written; the push is tried again later with
# a new key.
IDEMPOTENCY = frozenset(
    {
        "IDEMPOTENCY_CONCURRENT_REQUEST",
        "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
        "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED",
    }
)
# ITEM_NOT_STOCKED_AT_LOCATION is kept for a shop pinned to a version before 2026-10.
GONE = ("INVALID_INVENTORY_ITEM", "ITEM_NOT_STOCKED_AT_LOCATION", "NON_MUTABLE_INVENTORY_ITEM")
