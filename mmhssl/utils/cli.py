"""How the command-line tools report the failures that a user can fix."""
import functools
import os.path as osp
import sys
from typing import Callable, Optional, Sequence

from .checkpoint import CheckpointReadError, UntrustedCheckpointError
from .download import DownloadError

# What wrong input raises: missing files and data (OSError), unknown config keys and type names
# (TypeError, KeyError from the registries), bad values, refused or unavailable checkpoints.
EXPECTED_ERRORS = (OSError, KeyError, TypeError, ValueError, UntrustedCheckpointError,
                   CheckpointReadError, DownloadError)


def command_line_tool(note: str = '') -> Callable:
    """Decorate a tool's ``main(argv)`` so that an expected failure ends it with one line.

    The line names the tool and the problem (our errors also say how to fix it), instead of a
    traceback; ``--debug`` anywhere on the command line shows the traceback as usual.

    Args:
        note (str): Added to the line, e.g. what the failure left as it was. Defaults to ''.

    Returns:
        Callable: The decorator.
    """

    def decorate(main: Callable) -> Callable:
        tool = osp.basename(main.__code__.co_filename)

        @functools.wraps(main)
        def run(argv: Optional[Sequence[str]] = None):
            argv = list(sys.argv[1:] if argv is None else argv)
            debug = '--debug' in argv
            if debug:
                argv.remove('--debug')
            try:
                return main(argv)
            except EXPECTED_ERRORS as e:
                if debug:
                    raise
                raise SystemExit(f'{tool}: error: {one_line(e)}{" " + note if note else ""} '
                                 '(--debug shows the traceback)') from None

        return run

    return decorate


def one_line(error: BaseException) -> str:
    """The message of ``error`` on one line (a ``KeyError``'s without the quotes)."""
    msg = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    return ' '.join(str(msg).split()) or type(error).__name__
