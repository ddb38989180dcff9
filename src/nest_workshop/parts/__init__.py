"""One module per workshop part: ``eprop``, ``sequences``, ``compartmental``, ``astrocytes``.

A part's module holds what is not the lesson - task and stimulus generation, book-keeping
of results, long analysis and figure code. It builds on :mod:`nest_workshop.core` and
never resets the NEST kernel: the notebook does (``nw.reset_kernel``), and a helper that
needs a fresh kernel says so.
"""
