"""What operators read: the status report, the store's overview and metrics,
health probes and the environment checks.
"""
