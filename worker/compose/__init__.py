"""Rendered parts and a recipient made into the bytes of one message: the
message template, Message-ID and VERP minting and parsing, recipient links
and DKIM. Pure: no I/O but reading the DKIM key.
"""
