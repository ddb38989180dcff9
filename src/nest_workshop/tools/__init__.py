"""For instructors and maintainers: the ``nest-workshop`` command and what it runs.

``cli`` (the command), ``exercises`` (participant notebooks from solution notebooks),
``notebook_runner`` (run every solution notebook in a fresh kernel: ``nest-workshop
check``), ``slides`` (offline slide shows), ``deck_figures`` (the decks' figures; their
schematics are drawn by ``core.schematics``, which the notebooks use too) and ``workspace``
(``nest-workshop start``).
"""
