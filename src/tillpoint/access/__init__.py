"""Who may do what over the API: keys, roles, the audit log, idempotency records."""
