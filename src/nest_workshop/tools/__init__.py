"""For instructors and maintainers: the ``nest-workshop`` command and what it runs.

``cli`` (the command), ``exercises`` (participant notebooks from solution notebooks),
``notebook_runner`` (run every solution notebook in a fresh kernel: ``nest-workshop
check``), ``schedule`` (each part's time against its slot), ``slides`` (offline slide
shows), ``deck_figures`` (the decks' figures; their schematics are drawn by
``core.schematics``, which the notebooks use too), ``workspace`` (``nest-workshop
start``), ``desktop`` and ``server_sandbox`` (NEST Desktop and NEST Server on this
machine), ``hub`` and ``hub_client`` (a workshop room on one server, and a participant
driven from Python for its tests and load test).
"""
