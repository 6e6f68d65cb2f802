"""infra.remote_result: the make targets that run commands on the deployed stack fail when the command failed."""

from __future__ import annotations

import io
import json

import pytest

from infra.remote_result import answer_in, main


@pytest.mark.parametrize(
    ("printed", "exit_code", "shown"),
    [
        (json.dumps({"exit_code": 0, "output": "Applying chat.0001_initial... OK\n"}), 0, "Applying chat"),
        ('Invoking ManageFunction\n{"exit_code": 1, "output": "CommandError: boom"}\n', 1, "CommandError: boom"),
        ('{"exit_code": 2, "output": "\'createsuperuser\' is not allowed here."}', 2, "not allowed"),
    ],
)
def test_the_operator_functions_exit_code_becomes_the_processes(printed, exit_code, shown):
    out = io.StringIO()
    assert main(io.StringIO(printed), out) == exit_code
    assert shown in out.getvalue()


def test_no_answer_at_all_is_a_failure_that_shows_what_was_printed():
    out = io.StringIO()
    assert main(io.StringIO("An error occurred (AccessDeniedException) {not json"), out) == 1
    assert "AccessDeniedException" in out.getvalue()


def test_only_an_object_with_an_integer_exit_code_counts():
    assert answer_in('{"exit_code": "0"} {"other": 1}') is None
    assert answer_in('{"output": "x", "exit_code": 3}') == {"output": "x", "exit_code": 3}
