"""Optax-driven solvers with implicit differentiation (planned; see the project's issues)."""
