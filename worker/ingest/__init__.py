"""Content coming in: feeds (RSS/Atom) fetched and turned into launches, and
editors' content files imported; untrusted text sanitised on the way.
"""
