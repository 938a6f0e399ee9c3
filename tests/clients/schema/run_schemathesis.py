"""Bounded schemathesis run against the stackd binary: every operation of openapi/openapi.json, as
client (signed in), server and admin. Passes when no response is a 5xx and every response matches
its documented schema. Deterministic (fixed seed, bounded examples per operation)."""

import json
import os
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from stackd_server import (  # noqa: E402
    PROJECT_ID,
    PUBLISHABLE_CLIENT_KEY,
    SECRET_SERVER_KEY,
    SUPER_SECRET_ADMIN_KEY,
    StackdServer,
)

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..")
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15")


def sign_up(base_url):
    request = urllib.request.Request(
        f"{base_url}/api/v1/auth/password/sign-up",
        data=json.dumps({"email": "schemathesis@example.com", "password": "password-123"}).encode(),
        headers={
            "content-type": "application/json",
            "x-stack-access-type": "client",
            "x-stack-project-id": PROJECT_ID,
            "x-stack-publishable-client-key": PUBLISHABLE_CLIENT_KEY,
        },
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)["access_token"]


def tool_crashed_only(output):
    """Whether a failed run reported only runtime errors of the tool, and no failed check."""
    return "Runtime Error" in output and "Failures:" not in output and "failed" not in output.split("Test cases:")[-1]


def main():
    server = StackdServer()
    failed = []
    try:
        token = sign_up(server.base_url)
        access = {
            "client": ["x-stack-publishable-client-key: " + PUBLISHABLE_CLIENT_KEY, "x-stack-access-token: " + token],
            "server": ["x-stack-secret-server-key: " + SECRET_SERVER_KEY, "x-stack-access-token: " + token],
            "admin": ["x-stack-super-secret-admin-key: " + SUPER_SECRET_ADMIN_KEY],
        }
        for access_type, headers in access.items():
            command = [
                os.path.join(os.path.dirname(sys.executable), "schemathesis"),
                "run",
                os.path.join(ROOT, "openapi", "openapi.json"),
                "--url", f"{server.base_url}/api/v1",
                "-H", f"x-stack-access-type: {access_type}",
                "-H", f"x-stack-project-id: {PROJECT_ID}",
                "--checks", "not_a_server_error,response_schema_conformance",
                "--max-examples", MAX_EXAMPLES,
                "--seed", "1",
                "--phases", "examples,coverage,fuzzing",
                "--warnings", "off",
                "--workers", "2",
            ]
            for header in headers:
                command += ["-H", header]
            print(f"schemathesis as {access_type}…", flush=True)
            result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if result.returncode != 0 and tool_crashed_only(result.stdout):
                # The tool itself crashed (seen once: CPython 3.11's "AST constructor recursion depth
                # mismatch" inside Hypothesis while it described a strategy), with no finding against
                # the server: run it once more. A check failure is never retried.
                print("  (schemathesis crashed without a finding; running it again)", flush=True)
                result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            summary = [line for line in result.stdout.splitlines() if "generated" in line or "failures" in line.lower()]
            print("  " + ("\n  ".join(summary) or "(no summary)"), flush=True)
            if result.returncode != 0:
                print(result.stdout[-20000:])
                failed.append(access_type)
        # Upstream's dev-only operations aside, deleting the signed-in user is an allowed outcome of
        # the run; the server must still be healthy afterwards.
        with urllib.request.urlopen(f"{server.base_url}/health?db=1") as response:
            assert response.status == 200
    finally:
        server.stop()
    print(f"schemathesis: {3 - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
