"""Bounces, complaints and mailed unsubscribes taken in from every source
(DSNs in a mailbox, Amazon SES through SNS, Postmark) as one record type,
applied by :mod:`subscribers.intake.records`.
"""
