"""A local DynamoDB endpoint with real global-table replication, built on moto.

``server`` is the WSGI middleware in front of moto's server app, ``replication``
the clock, queue and ground-truth log, ``replicas`` the replica lifecycle, and
``lifecycle`` starts, finds and stops a background emulator.
"""
