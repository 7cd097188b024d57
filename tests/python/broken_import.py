"""Fails while it is imported, as a typo in a real app would."""

import no_such_module_anywhere  # noqa: F401

application = None
