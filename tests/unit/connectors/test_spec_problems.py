"""What `check` says of a System's connection: every problem, each in words."""

from __future__ import annotations

from interlink.connectors.smtp import SPEC as SMTP


def test_a_problem_of_the_whole_connection_hides_none_of_its_fields() -> None:
    problems = SMTP.problems(
        {"host": "h", "security": "startls", "from": "not an address", "password": "hunter2"}
    )
    assert problems == [
        (("password",), "is a secret: give it as a ${secret:NAME} reference, never the value"),
        ((), '"username" is a required property'),
        (("security",), '"startls" is not one of "none", "starttls" or "tls"'),
        (
            ("from",),
            '"not an address" is not valid here: the sender: an address, or Name <address>',
        ),
    ]
    assert all("hunter2" not in text for _, text in problems)


def test_a_pattern_is_said_by_the_field_s_description() -> None:
    assert SMTP.problems({"host": "h", "from": "a@b.example", "to": ["ok@b.example", "bad"]}) == [
        (("to", 1), '"bad" is not valid here: an address, or Name <address>')
    ]
