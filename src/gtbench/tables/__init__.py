"""The global table's own lifecycle: ``provision`` (create, add replicas, wait for
ACTIVE), ``dataset`` (the workshop's items), ``batch`` (batch writes and reads that
finish their remainders) and ``teardown`` (remove what gtbench made)."""
