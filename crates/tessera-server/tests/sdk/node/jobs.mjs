// The Node `auth0` package's ManagementClient running a bulk import and an export, as its
// README and API reference show (jobs.usersImports.create with a file stream, jobs.get,
// jobs.errors.get, jobs.usersExports.create), with only the domain pointed at Tessera. The
// users file is in Auth0's bulk import format: one user with a bcrypt custom_password_hash
// (computed by the Rust test) and one without an email, which the job must report.
import { createReadStream, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManagementClient } from "auth0";

const m = new ManagementClient({
  domain: process.env.TESSERA_DOMAIN,
  clientId: process.env.CLIENT_ID,
  clientSecret: process.env.CLIENT_SECRET,
});
const connection_id = process.env.CONNECTION_ID;
const users = [
  {
    email: process.env.IMPORT_EMAIL,
    email_verified: true,
    name: "Imported by Node",
    user_metadata: { source: "node-sdk" },
    custom_password_hash: { algorithm: "bcrypt", hash: { value: process.env.BCRYPT_HASH } },
  },
  { name: "No Email" },
];
const path = join(mkdtempSync(join(tmpdir(), "tessera-jobs-")), "users.json");
writeFileSync(path, JSON.stringify(users));

// Polls a job until it has ended (the server's worker looks every second).
const finished = async (id) => {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const job = await m.jobs.get(id);
    if (job.status === "completed" || job.status === "failed") return job;
    if (Date.now() > deadline) throw new Error(`job ${id} never ended: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

const created = await m.jobs.usersImports.create({ users: createReadStream(path), connection_id, upsert: false });
const imported = await finished(created.id);
const errors = await m.jobs.errors.get(created.id);

const exportJob = await m.jobs.usersExports.create({
  connection_id,
  format: "json",
  fields: [{ name: "email" }, { name: "name" }, { name: "user_metadata.source", export_as: "source" }],
});
const exported = await finished(exportJob.id);
const download = await fetch(exported.location);
const text = await download.text();

console.log(JSON.stringify({
  created: { id: created.id, type: created.type, status: created.status, connection_id: created.connection_id },
  imported: { status: imported.status, summary: imported.summary },
  errors,
  export: { type: exportJob.type, status: exported.status, format: exported.format, download_status: download.status },
  export_lines: text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l)),
  export_text: text,
}));
