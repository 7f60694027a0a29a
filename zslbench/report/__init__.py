"""Reporting: run records -> tidy DataFrame -> summaries over seeds -> tables, leaderboard, plots, check.

- :mod:`zslbench.report.aggregate`: read and check records (failed / duplicate / schema issues), tidy
  frame, mean ± std over seeds.
- :mod:`zslbench.report.published`: published reference numbers (``results/published/published.csv``).
- :mod:`zslbench.report.labels`: row labels and number formatting shared by tables, leaderboard, plots.
- :mod:`zslbench.report.tables`: ICIS / GBU / ablation layouts as a table model;
  :mod:`zslbench.report.render` renders it as Markdown, LaTeX (booktabs) or CSV.
- :mod:`zslbench.report.leaderboard`: ranking by mean GZSL H over shared datasets (Markdown + JSON).
- :mod:`zslbench.report.plots`: data-scarcity, seen-unseen and per-class figures (PNG + PDF).
- :mod:`zslbench.report.check`: the regression check's comparison against a committed baseline (the
  suite's runs are :mod:`zslbench.check_suite`).
- :mod:`zslbench.report.cli`: the ``report``, ``reproduce``, ``leaderboard`` and ``plot`` commands.

What the reports know about a method comes from its records (``method_meta``); nothing here imports the
registry, a method or the harness.

Submodules import pandas / matplotlib; nothing is imported here, so ``import zslbench.report`` is cheap.
"""
