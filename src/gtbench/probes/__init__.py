"""Probes inside the regions: small functions that run beside each replica (AWS Lambda
on AWS, local workers on the emulator) and time DynamoDB on their own clocks, so a
measurement no longer carries the client's round trips.

``handler`` is the probe itself (the whole Lambda function), ``transport`` reaches
it, ``race`` runs ``race --probes``, ``deploy`` manages the functions on AWS.
"""
