"""The school's public page: anyone can tell a counselor without an account and come back with a receipt code."""
