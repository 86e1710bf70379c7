"""Domain logic that views and commands call."""
