"""The terminal fleet: provisioning, binding (一机一户), lifecycle, operators, batches."""
