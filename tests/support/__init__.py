"""What the tests share besides fixtures: real servers (SMTP, HTTP feeds,
Postmark, Dovecot), sample digests, and running the ``digest`` command."""
