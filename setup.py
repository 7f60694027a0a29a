"""Build hook: ship the suite's defaults inside the package.

``benchmark.toml`` and ``results/published/published.csv`` live at the top of the checkout (where users
edit them); a built wheel carries copies as ``zslbench/defaults/``, so a non-editable install finds them
(see ``zslbench.config.config_path`` and ``zslbench.report.published.default_published_path``).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DEFAULTS = ("benchmark.toml", "results/published/published.csv")


class BuildWithDefaults(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "zslbench" / "defaults"
        target.mkdir(parents=True, exist_ok=True)
        for name in DEFAULTS:
            shutil.copyfile(Path(__file__).parent / name, target / Path(name).name)


setup(cmdclass={"build_py": BuildWithDefaults})
