"""The digest lint: what an inbox holds against a composed message (the HTML
scan and the rules), the link check and the spam check.
"""
