"""Pages anyone can see."""
