"""For instructors and maintainers: the ``nest-workshop`` command and what it runs.

``cli`` (the command), ``exercises`` (participant notebooks from solution notebooks),
``notebook_runner`` (run every solution notebook in a fresh kernel: ``nest-workshop
check``), ``slides`` (offline slide shows) and ``workspace`` (``nest-workshop start``).
"""
