"""Classes for teachers and school admins: rosters, assigned lessons, completion and staff training."""
