"""Signed receipts: keys, compact JWS (EdDSA), issuing, storing and verifying."""
