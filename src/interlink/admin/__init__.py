"""The admin API: FastAPI over the running estate, its token roles, registry and operations."""
