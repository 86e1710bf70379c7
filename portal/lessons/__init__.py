"""Lessons for students, staff and parents: anyone can take them; signed-in progress is saved."""
