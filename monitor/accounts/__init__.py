"""Accounts of the review UI and API: users with roles, password sign-in, API tokens."""
