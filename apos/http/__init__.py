"""The HTTP plumbing under every route: sessions, CSRF, request bodies, dispatch."""
