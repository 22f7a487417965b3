"""Differentiable adaptive quadrature (planned; see the project's issues)."""
