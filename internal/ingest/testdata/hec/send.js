// Sends events to a HEC endpoint with the published splunk-logging client
// (npm), as an application would. Used by TestHECWithSplunkLogging.
//
//   URL=http://127.0.0.1:8080 TOKEN=rnl_… COUNT=5 BATCH=2 node send.js
//
// Prints one JSON line per HEC answer the client got ({"err","body"}) and
// exits non-zero when the client reported an error.
"use strict";
const SplunkLogger = require("splunk-logging").Logger;

const count = parseInt(process.env.COUNT || "5", 10);
const batch = parseInt(process.env.BATCH || "1", 10);
const logger = new SplunkLogger({
  token: process.env.TOKEN,
  url: process.env.URL, // http://host:port: protocol and port come from it
  maxBatchCount: batch,
  maxRetries: 0,
});
logger.error = function (err, context) {
  console.log(JSON.stringify({ err: String(err && err.message), code: err && err.code }));
  process.exitCode = 1;
};

function report(err, resp, body) {
  console.log(JSON.stringify({ err: err ? String(err.message || err) : null, status: resp && resp.statusCode, body: body }));
  if (err || !resp || resp.statusCode !== 200) process.exitCode = 1;
}

for (let i = 0; i < count; i++) {
  logger.send({
    message: { n: i, text: "hello from node", nested: { ok: true } },
    severity: i % 2 ? "warn" : "info",
    metadata: { source: "node-app", sourcetype: "_json", host: "node-host", index: "main", time: 1739370735.25 + i },
  }, report);
}
// A batch that did not fill up is sent now (an empty flush would post an
// empty body, which HEC answers "No data").
if (count % batch !== 0) logger.flush(report);
