"""Editions and their deliveries: built, started, claimed in batches under a
lease, sent through a mail backend and recorded; approvals and holds; the
one-off notices (confirmation, welcome).
"""
