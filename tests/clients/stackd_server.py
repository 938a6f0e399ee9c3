"""Starts the stackd binary in development mode on a port it binds itself, for client tests."""

import os
import re
import subprocess
import tempfile


class StackdServer:
    def __init__(self, *extra_args: str):
        self.dir = tempfile.TemporaryDirectory(prefix="stackd-clients-")
        binary = os.environ["STACKD_BIN"]
        self.process = subprocess.Popen(
            [binary, "serve", "--dev", "--listen", "127.0.0.1:0", "--db", os.path.join(self.dir.name, "stackd.db"), *extra_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "STACKD_LOG": "warn"},
            text=True,
        )
        seen = ""
        for line in self.process.stdout:
            seen += line
            match = re.search(r"Base URL \(SDK baseUrl\):\s+(\S+)", line)
            if match:
                self.base_url = match.group(1)
                break
        else:
            raise RuntimeError(f"stackd did not start: {seen}")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        self.dir.cleanup()


PROJECT_ID = "internal"
PUBLISHABLE_CLIENT_KEY = "this-publishable-client-key-is-for-local-development-only"
SECRET_SERVER_KEY = "this-secret-server-key-is-for-local-development-only"
SUPER_SECRET_ADMIN_KEY = "this-super-secret-admin-key-is-for-local-development-only"
