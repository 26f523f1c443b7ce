"""The fraud-alerts core: alerts, their delivery outcomes, the ports and the sweep use case.

Nothing in this package talks to AWS, reads the environment or logs: adapters do that.
"""
