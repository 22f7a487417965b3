"""The command line's argument checks (`python -m jaxgrad ...`), which run before anything
is computed: a bad argument exits with status 2 and a message naming it."""

from __future__ import annotations

import pytest

from jaxgrad.__main__ import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["demo", "--jobs", "0"], "--jobs must be >= 1"),
        # (An unwritable plot path failed after the whole demo had run; outside probe.)
        (["demo", "--plot", "/nonexistent-folder/x.png"], "cannot write there"),
        # (3 ran two rows, then failed with a traceback; 1,000,000 hung creating host
        # devices; outside probe.)
        (["bench", "--devices", "0"], "power of two from 1 to 256"),
        (["bench", "--devices", "3"], "power of two from 1 to 256"),
        (["bench", "--devices", "1000000"], "power of two from 1 to 256"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err
