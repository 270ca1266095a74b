"""The `talkrig` command line: argument parsing only; the work is in the stage packages."""
