"""The Python client: discover, query, decide, cache, and the greeter's feed."""
