"""The progress bar redraws one line with carriage returns, and only when enabled."""
import io

from refimpl.experiments.progress import ProgressBar


def test_bar_redraws_in_place():
    stream = io.StringIO()
    bar = ProgressBar(4, label="run", stream=stream, enabled=True, min_interval=0.0)
    for i in range(1, 5):
        bar.update(i, loss=1.0 / i)
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n") and "4/4" in text
    assert "loss 0.25" in text


def test_disabled_bar_writes_nothing():
    stream = io.StringIO()            # not a terminal: disabled by default
    bar = ProgressBar(3, stream=stream)
    bar.update(3, loss=0.5)
    bar.close()
    assert stream.getvalue() == ""
