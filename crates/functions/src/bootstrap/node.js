// Sluice's runtime client for Node.js functions: the Lambda Runtime API loop, as AWS's
// aws-lambda-nodejs-runtime-interface-client runs it. A handler may return a promise (async),
// call its callback, or call context.succeed / context.fail / context.done, as the guide's
// samples do.
"use strict";
const http = require("http");
const path = require("path");

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const BASE = "/2018-06-01/runtime";

function request(method, route, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path: BASE + route, headers: headers || {} }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// Written after an invocation's output so the server knows its log is complete.
const END_MARK = "\x1esluice-invocation-end\n";

function markEnd() {
  return Promise.all([process.stdout, process.stderr].map((s) => new Promise((resolve) => s.write(END_MARK, resolve))));
}

function errorDocument(error) {
  if (!(error instanceof Error)) error = new Error(typeof error === "string" ? error : JSON.stringify(error));
  return JSON.stringify({
    errorType: error.name || "Error",
    errorMessage: error.message,
    trace: (error.stack || "").split("\n"),
  });
}

function loadHandler() {
  const handlerName = process.env._HANDLER;
  const dot = handlerName.lastIndexOf(".");
  const file = path.resolve(process.env.LAMBDA_TASK_ROOT, handlerName.slice(0, dot));
  const module = require(file);
  const fn = module[handlerName.slice(dot + 1)];
  if (typeof fn !== "function") throw new Error(handlerName + " is undefined or not exported");
  return fn;
}

async function main() {
  let handler;
  try {
    handler = loadHandler();
  } catch (error) {
    console.error(error);
    await request("POST", "/init/error", errorDocument(error), { "Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError" });
    process.exit(1);
  }
  for (;;) {
    const next = await request("GET", "/invocation/next");
    const id = next.headers["lambda-runtime-aws-request-id"];
    const deadline = Number(next.headers["lambda-runtime-deadline-ms"] || 0);
    const event = next.body ? JSON.parse(next.body) : null;
    const outcome = await new Promise((resolve) => {
      let settled = false;
      const finish = (error, result) => {
        if (settled) return;
        settled = true;
        resolve({ error, result });
      };
      const context = {
        awsRequestId: id,
        invokedFunctionArn: next.headers["lambda-runtime-invoked-function-arn"],
        functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
        functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
        memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
        logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
        logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
        callbackWaitsForEmptyEventLoop: true,
        getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
        succeed: (result) => finish(null, result),
        fail: (error) => finish(error || new Error("failed")),
        done: (error, result) => finish(error, result),
      };
      try {
        const returned = handler(event, context, (error, result) => finish(error, result));
        if (returned && typeof returned.then === "function") {
          returned.then((result) => finish(null, result), (error) => finish(error || new Error("rejected")));
        }
      } catch (error) {
        finish(error);
      }
    });
    if (outcome.error) {
      console.error(outcome.error);
      await markEnd();
      await request("POST", "/invocation/" + id + "/error", errorDocument(outcome.error), { "Lambda-Runtime-Function-Error-Type": "Unhandled" });
    } else {
      const body = outcome.result === undefined ? "null" : JSON.stringify(outcome.result);
      await markEnd();
      await request("POST", "/invocation/" + id + "/response", body);
    }
  }
}

main();
