"""The labelled traffic simulator (docs/risk.md, "The traffic simulator")."""
