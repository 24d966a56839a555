"""Running `bioprobe` in-process and checking that bad input ends in one sentence (the tests of the newer tasks)."""

from __future__ import annotations

from click.testing import CliRunner

from bioprobe.cli import main


def cli(*args: str):
    """`bioprobe ARGS` in this process; the click result."""
    return CliRunner().invoke(main, list(args))


def assert_one_sentence(result, *fragments: str) -> str:
    """A non-zero exit, no traceback and one error line naming every fragment; the line."""
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def ok(*args: str):
    """`bioprobe ARGS` in this process, which must succeed (exceptions raised as they are); the click result."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result
