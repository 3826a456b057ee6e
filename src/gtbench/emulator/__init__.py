"""A local DynamoDB endpoint with real global-table replication, built on moto.

``app`` is the WSGI app in front of moto's server app (``requests``, ``strong``,
``partiql`` and ``control`` are its parts), ``server`` serves it, ``replication`` holds
the clock, queue and ground-truth log, ``replicas`` the replica lifecycle, and
``store`` is the one doorway to moto. ``gtbench.local`` starts, finds and stops a
background emulator from outside.
"""
