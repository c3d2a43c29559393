"""Alembic migrations of the store's schema, run by `SqlStore` on open (see horae.store._migrate).

A new revision: change horae/store/_schema.py, then add a script to versions/ (by hand, or with
`alembic revision --autogenerate` against a database at head using `horae.store._migrate.alembic_config()`).
Never edit a released revision.
"""
