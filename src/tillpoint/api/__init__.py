"""The HTTP side: REST /v1, consoles, OpenAPI (an adapter)."""
