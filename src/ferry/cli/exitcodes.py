"""Exit statuses of every ferry command."""

OK = 0
FAILED = 1  # some items failed, or deletes were refused
USAGE = 2  # bad arguments, or a run that cannot start
INTERRUPTED = 130
