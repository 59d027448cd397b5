"""The one exception type for bad user input.

Library code raises ``InputError`` with a message that names the file, key or value at fault; the CLI
turns it into a one-line ``click.UsageError`` (exit code 2). Anything else is a bug and keeps its
traceback.
"""


class InputError(ValueError):
    """Bad input from the user: a file, key or value the suite cannot use."""
