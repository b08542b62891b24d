"""Per-recipient placeholders written by render and filled in by compose.

A segment's digest is rendered once; these markers stand where each
recipient's own links go. They survive MJML compilation unchanged and need no
escaping in HTML attributes or in the text part.
"""

UNSUBSCRIBE_URL = "%%unsubscribe_url%%"
PREFERENCES_URL = "%%preferences_url%%"
# A vote link is SITE_URL/vote/<token>/<tool slug>/<ship|skip>: the token
# names the recipient, the rest of the path is the recipient's choice.
VOTE_TOKEN = "%%vote_token%%"

ALL = (UNSUBSCRIBE_URL, PREFERENCES_URL, VOTE_TOKEN)
