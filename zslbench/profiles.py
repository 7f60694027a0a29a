"""Reduced run profiles: a first run that does real work in minutes, never mistaken for the benchmark.

``zslbench run --quick`` runs the methods of ``run --all`` but the profile's left-out ones on the profile's
datasets with one seed, into ``results/quick/`` (git-ignored), and makes its tables, leaderboard and figures
there.
Every spec carries ``"profile": "quick"`` (so its run id differs from any full-suite run), and tables,
the leaderboard and figures made from such records say "QUICK PROFILE" at the top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

_ICIS_ABLATIONS = ("icis_mlp", "icis_cosine", "icis_single_modal", "icis_cross_modal", "subreg")


@dataclass(frozen=True)
class Profile:
    """A reduced run profile.

    Attributes:
        name: the label written into every spec (``RunSpec.profile``).
        summary: one line saying what is reduced (printed, and shown above tables and the leaderboard).
        datasets / seeds: what it runs on (command-line ``-d`` / ``--seeds`` replace them).
        results_subdir: output folder under the default results folder.
        base_classifier: overrides of the base-classifier settings (image-free methods).
        hparams: per method, hyper-parameters fixed by the profile (over config and preset): the caps
            of the left-out methods when they are named with ``-m``.
        left_out: per method, why the profile does not run it unless it is named with ``-m`` (then its
            ``hparams`` caps apply, and the reason says what they do to it); said in the banner.
        parallel_splits: fit each run's validation and test splits at the same time when the runs are
            made in one process on a machine with 2+ cores (``run --parallel-splits``).
    """

    name: str
    summary: str
    datasets: tuple[str, ...]
    seeds: tuple[int, ...]
    results_subdir: str
    base_classifier: Mapping[str, Any] = field(default_factory=dict)
    hparams: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    left_out: Mapping[str, str] = field(default_factory=dict)
    parallel_splits: bool = False

    def banner(self) -> str:
        text = f"{self.name.upper()} PROFILE: {self.summary}. A first-run check, not the benchmark's numbers."
        if self.left_out:
            text += " " + _grouped("LEFT OUT unless named with -m", self.left_out)
        return text


def _grouped(title: str, reasons: Mapping[str, str]) -> str:
    """``"TITLE: a, b (why); c (other why)."``: methods that share a reason listed together."""
    groups: dict[str, list[str]] = {}
    for method, why in reasons.items():
        groups.setdefault(why, []).append(method)
    return f"{title}: " + "; ".join(f"{', '.join(methods)} ({why})" for why, methods in groups.items()) + "."


_GENERATIVE = ("f_clswgan", "cada_vae", "tf_vaegan")

QUICK = Profile(
    name="quick",
    summary="one seed of one dataset; every method that runs does so at its full settings; the ICIS ablations, "
            "Sub.Reg., wDAE and the generative methods are left out",
    datasets=("synth-cub",),
    seeds=(0,),
    results_subdir="quick",
    parallel_splits=True,
    hparams={
        **{m: {"max_epochs": 20} for m in _ICIS_ABLATIONS},
        "wdae": {"max_epochs": 20, "dae_max_epochs": 10},
        "f_clswgan": {"epochs": 1, "pre_epochs": 3, "cls_epochs": 3},
        "cada_vae": {"epochs": 5, "cls_epochs": 5},
        "tf_vaegan": {"epochs": 1, "cls_epochs": 5},
    },
    left_out={
        **{m: "an ICIS-length fit each (hundreds of epochs, minutes); named with -m they run capped at 20 "
              "epochs (wDAE 20 + 10), UNDER-TRAINED, near chance" for m in (*_ICIS_ABLATIONS, "wdae")},
        **{m: "7-25 minutes a fit on synth-cub at their own settings; named with -m they run capped at 1-5 "
              "epochs, UNDER-TRAINED, and collapse" for m in _GENERATIVE},
    },
)

PROFILES: dict[str, Profile] = {QUICK.name: QUICK}


def profile_of(records: Any) -> set[str]:
    """The profile names found in ``records`` (an iterable of record dicts); empty for benchmark runs."""
    return {str(r["spec"]["profile"]) for r in records if (r.get("spec") or {}).get("profile")}


def banner_for(names: set[str]) -> str | None:
    """The warning line for tables made from profiled records (None when there are none)."""
    if not names:
        return None
    known = [PROFILES[n].banner() for n in sorted(names) if n in PROFILES]
    return " ".join(known) if known else f"{', '.join(sorted(names)).upper()} PROFILE: not the benchmark's numbers."
