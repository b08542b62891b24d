"""When things run: the due logic, the jobs, the clock process (APScheduler)
and the locks that keep one of each.
"""
