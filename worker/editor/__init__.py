"""What editors use: the live preview and its page, the sample data, the demo
and the lint (:mod:`worker.editor.lint`).
"""
