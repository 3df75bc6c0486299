"""`make load` end to end, shortened: the locust process against every service of the test
stack (served in this process), two short steps, a report with every kind of call in it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

CALLS = {
    "claims.ReportLoss",
    "policy.CheckCoverage",
    "pricing.BenchmarkQuote",
    "evidence.UploadEvidence",
    "validation.ValidateBatches",
    "contractors.GetContractorStanding",
    "claims.ListClaims",
}


async def test_a_short_load_run_reports_every_call_without_unexpected_errors(
    service_environ,
    auth_key,
    policy_addr,
    claims_addr,
    pricing_addr,
    validation_addr,
    contractors_addr,
    evidence_app,
    tmp_path,
) -> None:
    environ = {
        **service_environ,
        "ELEVINS_AUTH_KEY": auth_key,
        "POLICY_ADDR": policy_addr,
        "CLAIMS_ADDR": claims_addr,
        "PRICING_ADDR": pricing_addr,
        "VALIDATION_ADDR": validation_addr,
        "CONTRACTORS_ADDR": contractors_addr,
        "EVIDENCE_ADDR": evidence_app[0],
    }
    out = tmp_path / "report.json"
    args = [sys.executable, "-m", "load_tests.load", "--users", "1,3", "--step-seconds", "3"]
    args += ["--max-seconds", "6", "--elevators", "3", "--out", str(out)]
    # The services answer on this test's event loop: the run must not block it.
    done = await asyncio.to_thread(
        subprocess.run, args, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert [s["users"] for s in report["steps"]] == [1, 3]
    called = {name for step in report["steps"] for name in step["calls"]}
    assert called >= CALLS, called
    for step in report["steps"]:
        assert step["requests"] > 0 and step["p95_ms"] is not None
        assert step["unexpected_errors"] == {}, step["calls"]
    assert report["config"]["elevators"] >= 3
    assert "p95" in done.stdout or "no bend" in done.stdout
