"""Run SAM CLI's own environment resolution for ``sam local invoke`` (no Docker needed).

This is the code path ``sam local invoke --env-vars FILE`` takes before it starts a container: the stack
provider resolves the template's intrinsics with the parameter overrides, the function provider applies
Globals, and ``LocalLambdaRunner._make_env_vars(...).resolve()`` merges the template's values, the shell's
and the file's (file first).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from unittest import mock

from samcli.commands.local.cli_common.invoke_context import InvokeContext
from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider


def resolved_env(
    template: Path,
    function: str,
    *,
    env_file: Path | None = None,
    parameter_overrides: dict[str, str] | None = None,
    shell: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment ``sam local invoke FUNCTION --env-vars ENV_FILE`` would hand the container."""
    stacks, _ = SamLocalStackProvider.get_stacks(
        str(template),
        parameter_overrides=parameter_overrides or {},
        global_parameter_overrides={"AWS::Region": "us-east-1"},
    )
    provider = SamFunctionProvider(stacks, ignore_code_extraction_warnings=True)
    found = provider.get(function)
    assert found is not None, f"{function} is not in {template}"
    runner: Any = LocalLambdaRunner(
        local_runtime=None,  # type: ignore[arg-type] - only the environment is resolved, nothing runs
        function_provider=provider,
        cwd=str(template.parent),
        real_path=str(template.parent),
        aws_region="us-east-1",
        env_vars_values=InvokeContext._get_env_vars_value(str(env_file) if env_file else None) or {},
    )
    with mock.patch.dict(os.environ, shell or {}, clear=False):
        return dict(runner._make_env_vars(found).resolve())
