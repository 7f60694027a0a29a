"""Progress inside fits (zslbench.progress): log lines, bars, silence, and the runner closing bars."""

from __future__ import annotations

from zslbench import progress


def test_lines_mode_reports_epoch_loss_and_eta(monkeypatch, capsys):
    monkeypatch.setenv(progress.PROGRESS_ENV, "lines")
    monkeypatch.setenv(progress.EVERY_ENV, "0")
    for epoch in range(1, 4):
        progress.epoch_done("icis", epoch, 10, loss=0.5 / epoch)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3
    assert err[-1].startswith("progress: icis epoch 3/10, loss 0.1667,") and "eta" in err[-1]
    assert progress.status() == {"icis": 10}  # still open: it may stop early
    progress.close_all()
    assert progress.status() == {}


def test_off_is_silent_and_keeps_nothing_open(monkeypatch, capsys):
    monkeypatch.setenv(progress.PROGRESS_ENV, "0")
    assert not progress.progress_active()
    for epoch in range(1, 4):
        progress.epoch_done("gcnz", epoch, 3, loss=1.0)
    assert capsys.readouterr().err == "" and progress.status() == {}


def test_bar_mode_closes_at_the_last_epoch_and_shows_postfix(monkeypatch, capsys):
    monkeypatch.setenv(progress.PROGRESS_ENV, "bar")
    bar = progress.Epochs(range(4), "f-CLSWGAN GAN")
    seen = []
    for i in bar:
        seen.append(i)
        bar.set_postfix(w="0.125")
        if i == 1:
            assert progress.status() == {"f-CLSWGAN GAN": 4}
    assert seen == [0, 1, 2, 3] and progress.status() == {}
    assert "f-CLSWGAN GAN" in capsys.readouterr().err


def test_runner_closes_a_loop_that_stopped_early(monkeypatch):
    from zslbench.runner import fit_progress

    monkeypatch.setenv(progress.PROGRESS_ENV, "lines")
    monkeypatch.setenv(progress.EVERY_ENV, "3600")
    with fit_progress():
        for epoch in (1, 2):  # early stopping after 2 of 1000 epochs
            progress.epoch_done("injection network", epoch, 1000, loss=0.1)
        assert progress.status() == {"injection network": 1000}
    assert progress.status() == {}
