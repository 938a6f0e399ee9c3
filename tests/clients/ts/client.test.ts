// A TypeScript client generated from openapi/openapi.json (openapi-typescript types + openapi-fetch),
// type-checked by tsc and run against the stackd binary: sign-up → /users/me → server list →
// update → read back → a KnownError from a duplicate sign-up. Headers are only what openapi-fetch's
// documented `headers` option takes.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import createClient from "openapi-fetch";
import type { paths, components } from "./generated/schema.js";

const PROJECT_ID = "internal";
const PCK = "this-publishable-client-key-is-for-local-development-only";
const SSK = "this-secret-server-key-is-for-local-development-only";

async function startStackd(): Promise<{ baseUrl: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "stackd-ts-"));
  const child = spawn(process.env.STACKD_BIN!, ["serve", "--dev", "--listen", "127.0.0.1:0", "--db", join(dir, "stackd.db")], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, STACKD_LOG: "warn" },
  });
  const baseUrl = await new Promise<string>((resolve, reject) => {
    let seen = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const m = seen.match(/Base URL \(SDK baseUrl\):\s+(\S+)/);
      if (m) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`stackd exited with ${code}: ${seen}`)));
  });
  const stop = async () => {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  return { baseUrl, stop };
}

type KnownError = components["schemas"]["KnownError"];

test("generated TypeScript client: sign-up, me, list, update, read back, KnownError", async () => {
  const { baseUrl, stop } = await startStackd();
  try {
    const api = (headers: Record<string, string>) => createClient<paths>({ baseUrl: `${baseUrl}/api/v1`, headers });
    const clientHeaders = { "x-stack-access-type": "client", "x-stack-project-id": PROJECT_ID, "x-stack-publishable-client-key": PCK };
    const anonymous = api(clientHeaders);

    const signUp = await anonymous.POST("/auth/password/sign-up", { body: { email: "ts-client@example.com", password: "password-123" } });
    assert.equal(signUp.response.status, 200);
    const session = signUp.data!;

    const user = api({ ...clientHeaders, "x-stack-access-token": session.access_token });
    const me = await user.GET("/users/me");
    assert.equal(me.data!.primary_email, "ts-client@example.com");
    assert.equal(me.data!.selected_team, null);

    const server = api({ "x-stack-access-type": "server", "x-stack-project-id": PROJECT_ID, "x-stack-secret-server-key": SSK });
    const list = await server.GET("/users", { params: { query: { limit: 10 } } });
    assert.ok(list.data!.items.some((u) => u.id === session.user_id));

    const updated = await server.PATCH("/users/{user_id}", {
      params: { path: { user_id: session.user_id } },
      body: { display_name: "TS", client_metadata: { theme: "dark" } },
    });
    assert.equal(updated.response.status, 200);
    const readBack = await server.GET("/users/{user_id}", { params: { path: { user_id: session.user_id } } });
    assert.equal(readBack.data!.display_name, "TS");
    assert.deepEqual(readBack.data!.client_metadata, { theme: "dark" });

    const duplicate = await anonymous.POST("/auth/password/sign-up", { body: { email: "ts-client@example.com", password: "password-123" } });
    assert.equal(duplicate.response.status, 409);
    const error = duplicate.error as KnownError;
    const code: KnownError["code"] = "USER_EMAIL_ALREADY_EXISTS";
    assert.equal(error.code, code);
    assert.equal(duplicate.response.headers.get("x-stack-known-error"), code);
  } finally {
    await stop();
  }
});
