// Drives the JavaScript fhirclient library (Node adapter) in two steps, without a browser or an
// HTTP server: "authorize" turns an EHR launch URL into the authorization URL; "ready" takes the
// callback URL, exchanges the code and reads the patient. State is kept in a JSON file between
// the steps, as a server-side session would keep it.
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import smart from "fhirclient";

const [, , step, stateFile, url, optionsJson] = process.argv;

const storage = {
  load() { return existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, "utf8")) : {}; },
  async get(key) { return this.load()[key]; },
  async set(key, value) { const data = this.load(); data[key] = value; writeFileSync(stateFile, JSON.stringify(data)); return value; },
  async unset(key) { const data = this.load(); const had = key in data; delete data[key]; writeFileSync(stateFile, JSON.stringify(data)); return had; },
};

function fakeRequest(fullUrl) {
  const parsed = new URL(fullUrl);
  return { url: parsed.pathname + parsed.search, headers: { host: parsed.host }, socket: { encrypted: parsed.protocol === "https:" } };
}

const response = { writeHead() {}, end() {} };

if (step === "authorize") {
  const options = JSON.parse(optionsJson);
  const authorizeUrl = await smart(fakeRequest(url), response, storage).authorize({ ...options, noRedirect: true });
  console.log(JSON.stringify({ url: authorizeUrl }));
} else if (step === "ready") {
  const client = await smart(fakeRequest(url), response, storage).ready();
  const patient = await client.request(`Patient/${client.patient.id}`);
  console.log(JSON.stringify({
    patientId: client.patient.id,
    resourceType: patient.resourceType,
    scope: client.state.tokenResponse.scope,
    fhirUser: client.getFhirUser(),
  }));
} else {
  console.error("usage: smart_launch.mjs authorize|ready <state-file> <url> [options-json]");
  process.exit(2);
}
