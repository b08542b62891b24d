"""The test suite, a package so that its folders (``tests/subscribers/``,
``tests/deliver/``…) never stand in for the packages they test."""
