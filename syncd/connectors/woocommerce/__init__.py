"""WooCommerce as a channel: REST API v3 (wc/v3), orders in, product and variation stock out."""
