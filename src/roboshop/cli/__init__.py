"""The ``roboshop`` command: run the whole system locally and look at it."""
