"""Authentication: API clients with hashed secrets, OAuth2 client-credentials JWTs, scope checks."""
