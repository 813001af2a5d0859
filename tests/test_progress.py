"""Progress display: one tqdm bar helper, drawn on terminals only; plain progress lines go through logging."""

import io
import logging

from gaitedge._progress import progress_bar
from gaitedge.training.logger import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_is_drawn_only_when_wanted_on_a_terminal():
    cases = ((_Terminal(), True, True), (_Terminal(), False, False), (io.StringIO(), True, False))
    for stream, enabled, drawn in cases:
        bar = progress_bar(3, enabled=enabled, stream=stream, desc="job")
        bar.update(2)
        assert bar.disable is not drawn
        bar.close()
        assert ("job" in stream.getvalue()) is drawn


def test_progress_logs_plain_lines_when_the_stream_is_no_terminal(caplog):
    stream = io.StringIO()
    p = Progress(25, desc="toy", every=10, stream=stream)
    with caplog.at_level(logging.INFO, logger="gaitedge.training.logger"):
        for it in range(1, 26):
            stats = p.update(it, samples=4, loss=0.5)
    p.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "gaitedge.training.logger"]
    assert [line.split(" loss")[0] for line in lines] == ["[toy] it 10/25", "[toy] it 20/25", "[toy] it 25/25"]
    assert all("seq/s" in line and "eta" in line for line in lines)
    assert stream.getvalue() == ""
    assert set(stats) == {"seq_per_s", "eta_s"}


def test_progress_draws_a_bar_on_a_terminal_and_logs_nothing(caplog):
    stream = _Terminal()
    p = Progress(5, start=2, desc="toy", every=1, stream=stream)
    with caplog.at_level(logging.INFO, logger="gaitedge.training.logger"):
        for it in range(3, 6):
            p.update(it, samples=2, loss=1.0)
    p.close()
    assert "toy" in stream.getvalue() and "5/5" in stream.getvalue()
    assert not [r for r in caplog.records if r.name == "gaitedge.training.logger"]


def test_disabled_progress_shows_nothing(caplog):
    stream = _Terminal()
    p = Progress(4, enabled=False, every=1, stream=stream)
    with caplog.at_level(logging.INFO, logger="gaitedge.training.logger"):
        stats = p.update(1, samples=2, loss=1.0)
    p.close()
    assert stream.getvalue() == "" and not caplog.records
    assert set(stats) == {"seq_per_s", "eta_s"}
