"""The delete refusals of the ARM routes (control/routes/arm_routes.py) keep their wire text."""

from __future__ import annotations

import pytest

from ferry.control.arm import ArmError
from ferry.control.routes.arm_routes import in_use, refuse_while_used


def test_refuse_while_used_names_the_users_and_derives_the_code() -> None:
    with pytest.raises(ArmError) as refused:
        refuse_while_used("Agent pool", "p1", ["a", "b"], "job definition(s)", "point them first")
    error = refused.value
    assert (error.status, error.code, error.target) == (409, "AgentPoolInUse", "p1")
    assert (
        error.message == "Agent pool 'p1' is used by the job definition(s) a, b; point them first."
    )


def test_refuse_while_used_lets_an_unused_resource_go() -> None:
    refuse_while_used("Endpoint", "e1", [], "job definition(s)", "delete them first")


def test_in_use_message() -> None:
    error = in_use(
        "JobRunActive", "Project", "p", "has active job runs (j)", then="stop them first"
    )
    assert (error.status, error.code, error.target) == (409, "JobRunActive", "p")
    assert error.message == "Project 'p' has active job runs (j); stop them first."
