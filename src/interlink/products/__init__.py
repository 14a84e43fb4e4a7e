"""Where data products will run; nothing runs them yet, and a DataProduct is only declared and
checked in the estate."""
