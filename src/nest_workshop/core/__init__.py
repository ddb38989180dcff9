"""The runtime core: what the notebooks use while they run.

``kernel`` resets NEST (the only module that does), ``nestml`` builds and loads NESTML
models through ``build_cache``, ``analysis`` and ``plotting`` read and draw recorder
data, ``schematics`` draws the networks (for the notebooks and the decks alike),
``selfcheck`` holds the notebooks' self-checks, ``environment`` the first-cell
check, ``validation`` the input checks the parts share and ``isolation`` what keeps
third-party output and folders out of the notebook; ``notebook_code`` runs a notebook's
network cells for the tools and tests, so each network has one definition. Nothing here
imports a part, a tool or the scale-out package.
"""
