"""Exit codes of every ltsp-mesh command, named in one place."""

from typing import Final, NewType

ExitCode = NewType("ExitCode", int)

OK: Final = ExitCode(0)
FAILED: Final = ExitCode(1)  # a MeshError: bad configuration, bad input, a failed lab
USAGE: Final = ExitCode(2)  # argparse's own code for a bad command line
NOTHING_FOUND: Final = ExitCode(3)  # hosts/status: no server answered
DEGRADED: Final = ExitCode(4)  # status: a server is Down or Swapped (a monitoring check's warning)
INTERRUPTED: Final = ExitCode(130)

HELP: Final = """exit codes:
  0    success
  1    error (the message says what and how to fix it)
  2    usage error
  3    no server answered (hosts, status)
  4    status: some server is Down or Swapped
  130  interrupted"""
