"""Pure values and rules of the digest: weeks, verdicts, the digest's
dataclasses, cron times, segments, link tokens and the states and reasons
the store records. No SQLAlchemy and no I/O: everything here is a function
of its arguments (link tokens read the process's clock when they are given
no time).
"""
