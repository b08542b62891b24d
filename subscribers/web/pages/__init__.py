"""The pages a subscriber opens: subscribe and confirm (:mod:`.signup`),
unsubscribe (:mod:`.leave`), preferences (:mod:`.preferences`) and votes
(:mod:`.votes`), all on one blueprint (:mod:`.common`).

Every link in an email carries a signed token (:mod:`worker.domain.tokens`);
a forged, altered, expired or other-purpose token changes nothing and gets a
page that says so. Links that change something show a page with a button on
GET and act on POST, so that mail scanners that follow links change nothing;
the RFC 8058 one-click unsubscribe is that POST.
"""

from subscribers.web.pages import leave, preferences, signup, votes
from subscribers.web.pages.common import blueprint

__all__ = ["blueprint", "leave", "preferences", "signup", "votes"]
