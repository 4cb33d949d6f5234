"""Risk monitoring: features, rules as data, decisions, alerts and cases."""
