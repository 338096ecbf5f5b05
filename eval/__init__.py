"""Evaluation: the paper's Section 4 metrics and tables.

``metrics`` (pure numpy / scipy), ``model_io`` (run folders and exports -> reconstructions; baselines),
``records`` (prepared frames), ``figures`` (heat maps, histograms), ``paper`` (the reported numbers), and one
CLI per table: ``bu3dfe`` (Table 1), ``lips`` (Table 2), ``disentanglement`` (Table 3), ``lfw``
(verification EMD), ``subspace`` (learned vs true spaces), ``report`` (all of them).
"""
