"""Confidential incident reports by staff and help requests by students."""
