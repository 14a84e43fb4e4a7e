"""Where flows will run; nothing runs them yet, and a Flow is only declared and checked in the
estate."""
