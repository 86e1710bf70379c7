"""A user's own account."""
