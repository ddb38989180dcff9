"""Running the networks at scale, on MPI processes.

``gather`` collects recorder events and connections from every rank (explicit
collective calls: every rank must make them), ``scaling`` runs ``nest-workshop scale``,
and ``mpi_wheel`` builds and caches an MPI-enabled NEST wheel (``make mpi``; standard
library only, so it runs before any environment exists).
"""
