"""Reporting: run records -> tidy DataFrame -> summaries over seeds -> tables, leaderboard, plots, check.

- :mod:`zslbench.report.aggregate`: read and check records (failed / duplicate / schema issues), tidy
  frame, mean ± std over seeds.
- :mod:`zslbench.report.published`: published reference numbers (``results/published/published.csv``).
- :mod:`zslbench.report.tables`: ICIS / GBU / ablation layouts as Markdown, LaTeX (booktabs) or CSV.
- :mod:`zslbench.report.leaderboard`: ranking by mean GZSL H over shared datasets (Markdown + JSON).
- :mod:`zslbench.report.plots`: data-scarcity, seen-unseen and per-class figures (PNG + PDF).
- :mod:`zslbench.report.check`: the regression check against a committed baseline.
- :mod:`zslbench.report.cli`: the ``report``, ``leaderboard``, ``plot`` and ``check`` commands.

Submodules import pandas / matplotlib; nothing is imported here, so ``import zslbench.report`` is cheap.
"""
