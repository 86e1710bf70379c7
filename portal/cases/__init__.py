"""The counselor's case work."""
